// verify.js: glassbox's in-browser ledger verification.
//
// It checks, with nothing but WebCrypto, what the server claims about its
// ledger: that record bytes hash to a decision id (RFC 6962 leaf hash),
// that an inclusion or consistency proof leads to a checkpoint's root
// (RFC 9162 sections 2.1.3.2 and 2.1.4.2), and that the checkpoint is a
// C2SP tlog-checkpoint signed note with a valid Ed25519 signature by the
// ledger's key. It has no dependencies and touches no DOM, so it can be
// loaded on its own and tested directly.
//
// Tree sizes and indices are BigInts: the proof algorithms shift them
// bitwise, and JavaScript's bitwise operators on Numbers are 32-bit.
"use strict";

const GlassboxVerify = (() => {
  const HASH_LEN = 32;
  const ED25519_ALG = 1; // note key algorithm byte for Ed25519
  const SIG_PREFIX = "\u2014 "; // "— ", the signed-note signature line prefix

  // VerificationError is a check that ran and failed, as opposed to a
  // programming error or a network failure.
  class VerificationError extends Error {
    constructor(message) {
      super(message);
      this.name = "VerificationError";
    }
  }
  const fail = (msg) => { throw new VerificationError(msg); };

  function subtle() {
    if (!globalThis.crypto || !globalThis.crypto.subtle) {
      fail("this browser offers no WebCrypto here (it needs a secure, https page)");
    }
    return globalThis.crypto.subtle;
  }

  function hexToBytes(hex) {
    if (typeof hex !== "string" || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
      fail("malformed hex string");
    }
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
    return out;
  }

  function bytesToHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // base64ToBytes accepts only canonical standard base64 with padding, as
  // Go's encoding/base64.StdEncoding writes it.
  function base64ToBytes(s) {
    if (typeof s !== "string" || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
      fail("malformed base64");
    }
    let bin;
    try {
      bin = atob(s);
    } catch (e) {
      fail("malformed base64");
    }
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  function equalBytes(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }

  async function sha256(bytes) {
    return new Uint8Array(await subtle().digest("SHA-256", bytes));
  }

  const leafHash = (record) => sha256(concat(Uint8Array.of(0), record));

  // AUTH_CONTEXT starts the message a format 2 leaf's authenticator signs
  // (transparency.authenticatorContext).
  const AUTH_CONTEXT = "glassbox leaf authenticator v1\n";

  function decodeUTF8(bytes) {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (e) {
      return null;
    }
  }

  function parseJSON(text) {
    try {
      return JSON.parse(text);
    } catch (e) {
      return undefined;
    }
  }
  const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

  // toSize converts a JSON number, decimal string or BigInt to a BigInt,
  // refusing anything that is not a non-negative integer.
  function toSize(v, what) {
    if (typeof v === "bigint" && v >= 0n) return v;
    if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
    if (typeof v === "string" && /^(0|[1-9][0-9]*)$/.test(v)) return BigInt(v);
    fail(`${what} is not a non-negative integer`);
  }

  function toHashes(list, what) {
    if (!Array.isArray(list)) fail(`${what} is not a list of hashes`);
    return list.map((h) => {
      const b = typeof h === "string" ? hexToBytes(h) : h;
      if (!(b instanceof Uint8Array) || b.length !== HASH_LEN) fail(`${what} contains a hash that is not ${HASH_LEN} bytes`);
      return b;
    });
  }

  const lsb = (x) => (x & 1n) === 1n;

  // rootFromInclusionProof follows RFC 9162 section 2.1.3.2 and returns the
  // root the proof leads to.
  async function rootFromInclusionProof(index, size, leaf, proof) {
    index = toSize(index, "leaf index");
    size = toSize(size, "tree size");
    const path = toHashes(proof, "inclusion proof");
    if (index >= size) fail(`leaf index ${index} is not below tree size ${size}`);
    let fn = index;
    let sn = size - 1n;
    let r = leaf;
    for (const p of path) {
      if (sn === 0n) fail("the inclusion proof has more hashes than the tree needs");
      if (lsb(fn) || fn === sn) {
        r = await nodeHash(p, r);
        if (!lsb(fn)) {
          while (!lsb(fn) && fn !== 0n) {
            fn >>= 1n;
            sn >>= 1n;
          }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) fail("the inclusion proof has fewer hashes than the tree needs");
    return r;
  }

  async function verifyInclusion(index, size, leaf, proof, root) {
    const got = await rootFromInclusionProof(index, size, leaf, proof);
    if (!equalBytes(got, root)) fail("the inclusion proof leads to a different root than the checkpoint's");
    return true;
  }

  // verifyConsistency follows RFC 9162 section 2.1.4.2. Sizes 0 and equal
  // sizes have empty proofs, as the ledger serves them.
  async function verifyConsistency(first, second, proof, firstRoot, secondRoot) {
    first = toSize(first, "first size");
    second = toSize(second, "second size");
    const path = toHashes(proof, "consistency proof");
    if (first > second) fail(`first size ${first} is larger than second size ${second}`);
    if (first === second) {
      if (path.length !== 0) fail("a proof between equal sizes must be empty");
      if (!equalBytes(firstRoot, secondRoot)) fail("the two checkpoints have the same size but different roots");
      return true;
    }
    if (first === 0n) {
      if (path.length !== 0) fail("a proof from the empty tree must be empty");
      return true;
    }
    if (path.length === 0) fail("the consistency proof is empty");
    const seq = (first & (first - 1n)) === 0n ? [firstRoot, ...path] : path;
    let fn = first - 1n;
    let sn = second - 1n;
    while (lsb(fn)) {
      fn >>= 1n;
      sn >>= 1n;
    }
    let fr = seq[0];
    let sr = seq[0];
    for (const c of seq.slice(1)) {
      if (sn === 0n) fail("the consistency proof has more hashes than the trees need");
      if (lsb(fn) || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        if (!lsb(fn)) {
          while (!lsb(fn) && fn !== 0n) {
            fn >>= 1n;
            sn >>= 1n;
          }
        }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) fail("the consistency proof has fewer hashes than the trees need");
    if (!equalBytes(fr, firstRoot)) fail("the consistency proof does not lead to the earlier checkpoint's root");
    if (!equalBytes(sr, secondRoot)) fail("the consistency proof does not lead to the current checkpoint's root");
    return true;
  }

  // noteKeyHash is the first four bytes of SHA-256(name "\n" alg||key),
  // the key hash golang.org/x/mod/sumdb/note puts in verifier keys and
  // signature lines.
  async function noteKeyHash(name, algKey) {
    const h = await sha256(concat(new TextEncoder().encode(name + "\n"), algKey));
    return h.slice(0, 4);
  }

  // parseVerifierKey parses "<name>+<8 hex key hash>+<base64(0x01||key)>"
  // and checks that the key hash belongs to the name and key.
  async function parseVerifierKey(text) {
    if (typeof text !== "string") fail("the verifier key is missing");
    // Only the first two "+" separate fields: base64 key data has its own.
    const t = text.trim();
    const i = t.indexOf("+");
    const j = i < 0 ? -1 : t.indexOf("+", i + 1);
    if (i < 0 || j < 0) fail("the verifier key is not name+hash+key");
    const name = t.slice(0, i);
    const hashHex = t.slice(i + 1, j);
    const keyB64 = t.slice(j + 1);
    if (name === "" || /[\s+]/.test(name)) fail("the verifier key's name is malformed");
    if (!/^[0-9a-f]{8}$/.test(hashHex)) fail("the verifier key's hash is not 8 lowercase hex digits");
    const algKey = base64ToBytes(keyB64);
    if (algKey.length !== 33 || algKey[0] !== ED25519_ALG) fail("the verifier key is not an Ed25519 key");
    const keyHash = hexToBytes(hashHex);
    if (!equalBytes(keyHash, await noteKeyHash(name, algKey))) fail("the verifier key's hash does not match its name and key");
    return { name, keyHash, keyHashHex: hashHex, publicKey: algKey.slice(1) };
  }

  async function ed25519Verify(publicKey, signature, message) {
    let key;
    try {
      key = await subtle().importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      fail(`this browser cannot check Ed25519 signatures (${e && e.name ? e.name : e})`);
    }
    return subtle().verify({ name: "Ed25519" }, key, signature, message);
  }

  // openNote verifies a signed note against key (from parseVerifierKey) and
  // returns its text. Signatures by other keys are ignored, as in
  // golang.org/x/mod/sumdb/note; one valid signature by key is required.
  async function openNote(note, key) {
    if (typeof note !== "string" || note === "") fail("the signed note is missing");
    const split = note.lastIndexOf("\n\n");
    if (split < 0) fail("the note has no signature block");
    const text = note.slice(0, split + 1);
    const sigBlock = note.slice(split + 2);
    if (!sigBlock.endsWith("\n")) fail("the note's signature block does not end with a newline");
    let sawKeyName = false;
    for (const line of sigBlock.slice(0, -1).split("\n")) {
      if (!line.startsWith(SIG_PREFIX)) fail("the note has a malformed signature line");
      const rest = line.slice(SIG_PREFIX.length);
      const sp = rest.indexOf(" ");
      if (sp <= 0) fail("the note has a malformed signature line");
      const name = rest.slice(0, sp);
      const raw = base64ToBytes(rest.slice(sp + 1));
      if (raw.length < 5) fail("the note has a truncated signature");
      if (name !== key.name) continue;
      sawKeyName = true;
      if (!equalBytes(raw.slice(0, 4), key.keyHash)) continue;
      const sig = raw.slice(4);
      if (sig.length !== 64) fail("the Ed25519 signature is not 64 bytes");
      if (await ed25519Verify(key.publicKey, sig, new TextEncoder().encode(text))) return text;
      fail(`the signature by ${key.name} does not verify`);
    }
    fail(sawKeyName ? `no signature with the key hash ${key.keyHashHex} of ${key.name}` : `the note is not signed by ${key.name}`);
  }

  // parseCheckpoint parses a tlog-checkpoint body: origin, decimal size and
  // base64 root, each on its own line. Extension lines are refused, since
  // this ledger never writes them.
  function parseCheckpoint(text) {
    const lines = text.split("\n");
    if (lines.length !== 4 || lines[3] !== "") fail("the checkpoint body is not exactly three lines");
    if (lines[0] === "") fail("the checkpoint has an empty origin");
    if (!/^(0|[1-9][0-9]*)$/.test(lines[1])) fail("the checkpoint size is not a decimal number");
    const root = base64ToBytes(lines[2]);
    if (root.length !== HASH_LEN) fail("the checkpoint root is not 32 bytes");
    return { origin: lines[0], size: BigInt(lines[1]), root };
  }

  async function openCheckpoint(note, key) {
    return parseCheckpoint(await openNote(note, key));
  }

  // Report collects named checks in order. Each check either passes,
  // fails with a reason, or is skipped because an earlier one it depends
  // on failed.
  class Report {
    constructor() {
      this.steps = [];
    }
    async run(id, title, failText, fn) {
      try {
        const detail = await fn();
        this.steps.push({ id, title, failText, ok: true, detail: detail || "" });
        return true;
      } catch (e) {
        if (!(e instanceof VerificationError)) throw e;
        this.steps.push({ id, title, failText, ok: false, detail: e.message });
        return false;
      }
    }
    skip(id, title, failText, why) {
      this.steps.push({ id, title, failText, ok: null, detail: why });
    }
    get failed() {
      return this.steps.find((s) => s.ok === false) || null;
    }
    get ok() {
      return this.steps.length > 0 && this.failed === null && this.steps.every((s) => s.ok === true);
    }
  }

  // signer names the key for people: a log's key is normally named after
  // its origin, and repeating the origin would only add noise.
  const signer = (key, cp) => (key.name === cp.origin ? "the ledger's key" : key.name) + ` (key ${key.keyHashHex})`;

  const hashCount = (n) => (n === 1 ? "1 proof hash leads" : `${n} proof hashes lead`);

  function finish(report, okMessage) {
    const failed = report.failed;
    const message = failed ? `Verification failed: ${failed.failText}.` : (report.ok ? `Verified: ${okMessage}` : "Verification failed: not every check could run.");
    return { ok: report.ok, message, failed: failed ? failed.id : null, steps: report.steps };
  }

  // checkDecision verifies a decision's proof as served by
  // GET /v1/decisions/{id}/proof against the ledger's verifier key.
  // expectedDecision, when given, must match the decision in the record.
  async function checkDecision({ decisionId, expectedDecision, proof, verifierKey }) {
    const rep = new Report();
    let leaf = null;
    await rep.run("record", "The ledger record hashes to this decision's id", "the ledger record does not match this decision's id", async () => {
      if (!proof || typeof proof.record !== "string") fail("the proof carries no record bytes");
      if (typeof decisionId !== "string" || !/^[0-9a-fA-F]{64}$/.test(decisionId)) fail("the decision id is not 64 hex digits");
      if (proof.decision_id !== undefined && String(proof.decision_id).toLowerCase() !== decisionId.toLowerCase()) {
        fail("the proof is for a different decision id");
      }
      const h = await leafHash(base64ToBytes(proof.record));
      if (bytesToHex(h) !== decisionId.toLowerCase()) fail(`SHA-256(0x00 ‖ record) is ${bytesToHex(h)}`);
      // Only a record that is the decision counts for the later checks.
      leaf = h;
      return "SHA-256(0x00 ‖ record) equals the decision id";
    });
    // A format 2 leaf is a commitment envelope: the record it commits to
    // comes beside it, and must open the commitment before anything is
    // read from it.
    const leafText = leaf ? decodeUTF8(base64ToBytes(proof.record)) : null;
    const envelope = leafText !== null && leafText.startsWith('{"authenticator":"') ? parseJSON(leafText) : null;
    let content = leafText;
    if (envelope) {
      content = null;
      await rep.run("commitment", "The record shown opens the ledger's commitment", "the record does not match the commitment in the ledger", async () => {
        if (typeof proof.committed_record !== "string" || typeof proof.salt !== "string") fail("the proof carries no record or salt for the commitment");
        const rec = base64ToBytes(proof.committed_record);
        const c = await sha256(concat(hexToBytes(proof.salt), rec));
        if (bytesToHex(c) !== envelope.commitment) fail(`SHA-256(salt ‖ record) is ${bytesToHex(c)}, the leaf commits to ${envelope.commitment}`);
        content = decodeUTF8(rec);
        return "SHA-256(salt ‖ record) equals the leaf's commitment";
      });
    }
    if (expectedDecision && content !== null) {
      let recorded;
      const rec = parseJSON(content);
      recorded = rec && rec.body ? rec.body.decision : undefined;
      if (typeof recorded === "string") {
        await rep.run("decision", "The record shows the same decision as this page", "the ledger record shows a different decision from this page", async () => {
          if (recorded !== expectedDecision) fail(`the record says "${recorded}"`);
          return `the record says "${recorded}"`;
        });
      }
    }
    let key = null;
    await rep.run("key", "The ledger's public key is well formed", "the ledger's public key is malformed", async () => {
      key = await parseVerifierKey(verifierKey);
      return `key ${key.name}+${key.keyHashHex}`;
    });
    if (envelope && key) {
      await rep.run("authenticator", "The ledger's key wrote this entry", "the entry was not written by the ledger (its authenticator does not verify): it is not a decision", async () => {
        // The authenticator signs a context line and the canonical leaf
        // without its own member, which comes first and holds no comma.
        const cut = leafText.indexOf('",', '{"authenticator":"'.length);
        if (cut < 0) fail("malformed envelope");
        const message = AUTH_CONTEXT + "{" + leafText.slice(cut + 2);
        if (!(await ed25519Verify(key.publicKey, base64ToBytes(envelope.authenticator), new TextEncoder().encode(message)))) {
          fail("the authenticator is not the ledger key's signature");
        }
        return `Ed25519 authenticator by key ${key.keyHashHex}`;
      });
    }
    let cp = null;
    const sigTitle = "The checkpoint is signed by the ledger's key";
    const sigFail = "the checkpoint's signature is not valid for the ledger's key";
    if (key) {
      await rep.run("signature", sigTitle, sigFail, async () => {
        cp = await openCheckpoint(proof && proof.checkpoint, key);
        return `Ed25519 signature by ${key.name} (key ${key.keyHashHex}) over tree size ${cp.size}`;
      });
    } else {
      rep.skip("signature", sigTitle, sigFail, "needs a valid public key");
    }
    const sizeTitle = "The checkpoint is for the proof's tree size";
    const sizeFail = "the checkpoint is for a different tree size than the proof";
    let size = null;
    if (cp) {
      await rep.run("size", sizeTitle, sizeFail, async () => {
        size = toSize(proof.tree_size, "tree size");
        if (size !== cp.size) fail(`the checkpoint is for size ${cp.size}, the proof for size ${size}`);
        return `tree size ${size}`;
      });
    } else {
      rep.skip("size", sizeTitle, sizeFail, "needs a verified checkpoint");
    }
    const incTitle = "The decision is in the signed tree";
    const incFail = "the inclusion proof does not match the signed checkpoint";
    if (cp && leaf && size !== null) {
      await rep.run("inclusion", incTitle, incFail, async () => {
        await verifyInclusion(proof.leaf_index, size, leaf, proof.hashes, cp.root);
        return `${hashCount(proof.hashes.length)} from the record to the checkpoint's root`;
      });
    } else {
      rep.skip("inclusion", incTitle, incFail, "needs the record hash and a verified checkpoint of the proof's size");
    }
    let okMessage = "";
    if (rep.ok) {
      const pos = toSize(proof.leaf_index, "leaf index") + 1n;
      okMessage = `this decision is entry ${pos} of ${cp.size} in the ledger ${cp.origin}, whose checkpoint is signed by ${signer(key, cp)}.`;
    }
    return finish(rep, okMessage);
  }

  // checkCheckpoint verifies one signed checkpoint note.
  async function checkCheckpoint({ note, verifierKey }) {
    const rep = new Report();
    let key = null;
    let cp = null;
    await rep.run("key", "The ledger's public key is well formed", "the ledger's public key is malformed", async () => {
      key = await parseVerifierKey(verifierKey);
      return `key ${key.name}+${key.keyHashHex}`;
    });
    if (key) {
      await rep.run("signature", "The checkpoint is signed by the ledger's key", "the checkpoint's signature is not valid for the ledger's key", async () => {
        cp = await openCheckpoint(note, key);
        return `Ed25519 signature by ${key.name} (key ${key.keyHashHex})`;
      });
    } else {
      rep.skip("signature", "The checkpoint is signed by the ledger's key", "the checkpoint's signature is not valid for the ledger's key", "needs a valid public key");
    }
    const res = finish(rep, rep.ok ? `the checkpoint for tree size ${cp.size} of ${cp.origin} is signed by ${signer(key, cp)}.` : "");
    res.checkpoint = cp;
    return res;
  }

  // checkConsistency verifies that the tree of the earlier checkpoint
  // (firstNote) is a prefix of the tree of the current one (secondNote),
  // given a proof as served by GET /v1/ledger/consistency.
  async function checkConsistency({ firstNote, secondNote, proof, verifierKey }) {
    const rep = new Report();
    let key = null;
    let a = null;
    let b = null;
    await rep.run("key", "The ledger's public key is well formed", "the ledger's public key is malformed", async () => {
      key = await parseVerifierKey(verifierKey);
      return `key ${key.name}+${key.keyHashHex}`;
    });
    const sig = async (id, title, failText, note, set) => {
      if (!key) {
        rep.skip(id, title, failText, "needs a valid public key");
        return;
      }
      await rep.run(id, title, failText, async () => {
        const cp = await openCheckpoint(note, key);
        set(cp);
        return `tree size ${cp.size}, signed by ${key.name}`;
      });
    };
    await sig("earlier-signature", "The earlier checkpoint is signed by the ledger's key", "the earlier checkpoint's signature is not valid", firstNote, (cp) => { a = cp; });
    await sig("current-signature", "The current checkpoint is signed by the ledger's key", "the current checkpoint's signature is not valid", secondNote, (cp) => { b = cp; });
    const sizeTitle = "The proof is between the two checkpoints' sizes";
    const sizeFail = "the proof is for different tree sizes than the checkpoints";
    const consTitle = "The earlier tree is an unchanged prefix of the current tree";
    const consFail = "the consistency proof does not connect the two checkpoints";
    if (a && b) {
      const sizesOK = await rep.run("sizes", sizeTitle, sizeFail, async () => {
        if (!proof) fail("no proof");
        if (a.origin !== b.origin) fail(`the checkpoints are for different logs (${a.origin}, ${b.origin})`);
        const first = toSize(proof.first, "first size");
        const second = toSize(proof.second, "second size");
        if (first !== a.size || second !== b.size) fail(`the proof is ${first}→${second}, the checkpoints ${a.size}→${b.size}`);
        return `${first} → ${second}`;
      });
      if (sizesOK) {
        await rep.run("consistency", consTitle, consFail, async () => {
          await verifyConsistency(a.size, b.size, proof.hashes, a.root, b.root);
          return `${hashCount(proof.hashes.length)} from the earlier root to the current one`;
        });
      } else {
        rep.skip("consistency", consTitle, consFail, "needs matching sizes");
      }
    } else {
      rep.skip("sizes", sizeTitle, sizeFail, "needs both checkpoints verified");
      rep.skip("consistency", consTitle, consFail, "needs both checkpoints verified");
    }
    return finish(rep, rep.ok ? `the ledger at size ${b.size} contains the ledger at size ${a.size} unchanged; both checkpoints are signed by ${signer(key, b)}.` : "");
  }

  return Object.freeze({
    VerificationError,
    hexToBytes,
    bytesToHex,
    base64ToBytes,
    sha256,
    leafHash,
    nodeHash,
    rootFromInclusionProof,
    verifyInclusion,
    verifyConsistency,
    parseVerifierKey,
    openNote,
    parseCheckpoint,
    openCheckpoint,
    checkDecision,
    checkCheckpoint,
    checkConsistency,
  });
})();

// audit.js: the regulator page. On load it checks the displayed
// checkpoint's signature; the form checks a consistency proof between an
// earlier checkpoint and the current one. The regulator's key is read from
// the form and sent only as an Authorization header, never stored.
(() => {
  const main = document.getElementById("main");
  const api = (main && main.dataset.api) || "/v1";

  function show(result, list, message, ok, steps) {
    result.textContent = message;
    result.className = "result " + (ok === true ? "ok" : ok === false ? "fail" : "");
    if (!list) return;
    list.replaceChildren();
    for (const s of steps || []) {
      const li = document.createElement("li");
      li.className = s.ok === true ? "s-pass" : s.ok === false ? "s-fail" : "s-skip";
      li.dataset.check = s.id;
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.textContent = s.ok === true ? "✓ Passed:" : s.ok === false ? "✕ Failed:" : "– Not checked:";
      li.append(mark, s.title + (s.detail ? " — " + s.detail : "") + ".");
      list.append(li);
    }
  }

  async function fetchOK(url, as, bearer) {
    const headers = { Accept: as === "json" ? "application/json" : "text/plain" };
    if (bearer) headers.Authorization = "Bearer " + bearer;
    const res = await fetch(url, { credentials: "same-origin", cache: "no-store", headers });
    if (!res.ok) throw new Error(`${url.split("?")[0]} answered ${res.status}`);
    return as === "json" ? res.json() : res.text();
  }

  // sizeOf reads a note's size without verifying it, only to know which
  // proof to ask for; the verification happens afterwards.
  function sizeOf(note) {
    const lines = note.split("\n");
    return lines.length > 2 && /^(0|[1-9][0-9]*)$/.test(lines[1]) ? lines[1] : null;
  }

  const noteEl = document.getElementById("checkpoint-note");
  const cpResult = document.getElementById("cp-result");
  if (noteEl && cpResult) {
    (async () => {
      show(cpResult, null, "Checking the checkpoint's signature…", null);
      try {
        const key = await fetchOK(`${api}/ledger/public-key`, "text");
        const r = await GlassboxVerify.checkCheckpoint({ note: noteEl.textContent, verifierKey: key });
        show(cpResult, null, r.failed ? `${r.message} (${r.steps.find((s) => s.ok === false).detail})` : r.message, r.ok);
      } catch (e) {
        show(cpResult, null, `Verification failed: could not check the checkpoint (${e.message}).`, false);
      }
    })();
  }

  // The public log, read and checked tile by tile.
  const tiles = document.getElementById("tiles-check");
  if (tiles) {
    (async () => {
      const result = document.getElementById("tiles-result");
      const steps = document.getElementById("tiles-steps");
      const log = tiles.dataset.log || "/log";
      show(result, steps, "Reading the public log…", null, []);
      try {
        const fetchBytes = async (path) => {
          const res = await fetch(`${log}/${path}`, { credentials: "omit" });
          if (!res.ok) throw new Error(`${log}/${path} answered ${res.status}`);
          return new Uint8Array(await res.arrayBuffer());
        };
        const [key, checkpoint] = await Promise.all([
          fetchOK(`${api}/ledger/public-key`, "text"),
          fetch(`${log}/checkpoint`, { credentials: "omit", cache: "no-store" }).then((r) => (r.ok ? r.text() : Promise.reject(new Error(`${log}/checkpoint answered ${r.status}`)))),
        ]);
        const r = await GlassboxVerify.checkTiles({ checkpoint, verifierKey: key, fetchBytes });
        show(result, steps, r.message, r.ok, r.steps);
      } catch (e) {
        show(result, steps, `Verification failed: could not read the public log (${e && e.message ? e.message : e}).`, false, []);
      }
    })();
  }

  const form = document.getElementById("consistency-form");
  const result = document.getElementById("consistency-result");
  const list = document.getElementById("consistency-steps");
  if (!form) return;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = form.querySelector("button[type=submit]");
    const regKey = document.getElementById("reg-key").value.trim();
    const sizeText = document.getElementById("first-size").value.trim();
    let earlier = document.getElementById("earlier-note").value.replace(/\r\n/g, "\n");
    if (earlier.trim() === "") earlier = "";
    else if (!earlier.endsWith("\n")) earlier += "\n";
    if (!regKey) {
      show(result, list, "Enter your regulator API key to request the proof.", false, []);
      document.getElementById("reg-key").focus();
      return;
    }
    let first = sizeText;
    if (earlier) {
      const s = sizeOf(earlier);
      if (s === null) {
        show(result, list, "Verification failed: the pasted checkpoint is not a checkpoint note.", false, []);
        return;
      }
      if (first !== "" && first !== s) {
        show(result, list, `Verification failed: the pasted checkpoint is for size ${s}, not ${first}.`, false, []);
        return;
      }
      first = s;
    }
    if (!/^[1-9][0-9]*$/.test(first)) {
      show(result, list, "Enter an earlier tree size of at least 1, or paste a checkpoint.", false, []);
      document.getElementById("first-size").focus();
      return;
    }
    button.disabled = true;
    show(result, list, "Checking…", null, []);
    try {
      let key, current, proof;
      try {
        [key, current] = await Promise.all([
          fetchOK(`${api}/ledger/public-key`, "text"),
          fetchOK(`${api}/ledger/checkpoint`, "text"),
        ]);
        const second = sizeOf(current);
        if (second === null) throw new Error("the current checkpoint is not a checkpoint note");
        if (BigInt(first) > BigInt(second)) {
          show(result, list, `Verification failed: size ${first} is beyond the current tree size ${second}.`, false, []);
          return;
        }
        proof = await fetchOK(`${api}/ledger/consistency?first=${first}&second=${second}`, "json", regKey);
      } catch (e) {
        show(result, list, `Verification failed: could not fetch the proof (${e.message}).`, false, []);
        return;
      }
      const firstNote = earlier || proof.first_checkpoint;
      if (!firstNote) {
        show(result, list, `Verification failed: the ledger returned no signed checkpoint at size ${first}; paste one you saved.`, false, []);
        return;
      }
      const r = await GlassboxVerify.checkConsistency({ firstNote, secondNote: current, proof, verifierKey: key });
      show(result, list, r.message, r.ok, r.steps);
    } catch (e) {
      show(result, list, `Verification failed: the check could not run (${e && e.message ? e.message : e}).`, false, []);
    } finally {
      button.disabled = false;
    }
  });
})();

// applicant.js: the "Check this decision in the ledger" panel. It fetches
// the decision's proof and the ledger's public key from the API and hands
// them to GlassboxVerify; this page's server is not trusted for the
// outcome, only for delivering the data.
(() => {
  const panel = document.getElementById("ledger-check");
  if (!panel) return;
  const button = document.getElementById("check-button");
  const result = document.getElementById("check-result");
  const list = document.getElementById("check-steps");
  const api = panel.dataset.api || "/v1";
  const id = panel.dataset.decisionId || "";
  const token = panel.dataset.token || "";

  function show(message, ok, steps) {
    result.textContent = message;
    result.className = "result " + (ok === true ? "ok" : ok === false ? "fail" : "");
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

  async function fetchOK(url, as) {
    const res = await fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: as === "json" ? "application/json" : "text/plain" } });
    if (!res.ok) throw new Error(`${url.split("?")[0]} answered ${res.status}`);
    return as === "json" ? res.json() : res.text();
  }

  async function check() {
    button.disabled = true;
    show("Checking…", null, []);
    try {
      let proof, key;
      try {
        const q = token ? "?token=" + encodeURIComponent(token) : "";
        [proof, key] = await Promise.all([
          fetchOK(`${api}/decisions/${encodeURIComponent(id)}/proof${q}`, "json"),
          fetchOK(`${api}/ledger/public-key`, "text"),
        ]);
      } catch (e) {
        show(`Verification failed: could not fetch the proof from the ledger (${e.message}). It may not be in the ledger yet; try again in a moment.`, false, []);
        return;
      }
      const r = await GlassboxVerify.checkDecision({ decisionId: id, expectedDecision: panel.dataset.decision, proof, verifierKey: key });
      const witnessKeys = (panel.dataset.witnessKeys || "").split(" ").filter((k) => k !== "");
      if (r.ok && witnessKeys.length > 0) {
        // The ledger has witnesses: the decision's offline proof must be
        // cosigned by enough of them, checked here too.
        let tlogProof;
        try {
          const q = token ? "&token=" + encodeURIComponent(token) : "";
          tlogProof = await fetchOK(`${api}/decisions/${encodeURIComponent(id)}/proof?format=tlog-proof${q}`, "text");
        } catch (e) {
          show(`Verification failed: could not fetch the witnessed proof (${e.message}).`, false, r.steps);
          return;
        }
        const quorum = Number(panel.dataset.witnessQuorum || "0");
        const w = await GlassboxVerify.checkTLogProof({ decisionId: id, tlogProof, verifierKey: key, witnessKeys, quorum });
        show(w.message, w.ok, r.steps.concat(w.steps));
        return;
      }
      show(r.message, r.ok, r.steps);
    } catch (e) {
      show(`Verification failed: the check could not run (${e && e.message ? e.message : e}).`, false, []);
    } finally {
      button.disabled = false;
    }
  }

  button.addEventListener("click", check);
})();

// The contest form: the statement and the details the applicant changed
// are sent to the contest endpoint with the page's credentials (the
// applicant cookie, or the token the page was given).
(() => {
  const form = document.getElementById("contest-form");
  const panel = document.getElementById("ledger-check");
  if (!form || !panel) return;
  const api = panel.dataset.api || "/v1";
  const id = panel.dataset.decisionId || "";
  const token = panel.dataset.token || "";
  const result = document.getElementById("contest-result");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const corrections = {};
    for (const input of form.querySelectorAll("input[data-logged]")) {
      const v = input.value.trim();
      if (v === input.dataset.logged) continue;
      corrections[input.name] = v !== "" && !Number.isNaN(Number(v)) ? Number(v) : v;
    }
    const body = { statement: form.elements.statement.value.trim() };
    if (Object.keys(corrections).length) body.corrections = corrections;
    const headers = token ? { Authorization: "Bearer " + token } : {};
    if (await GlassboxPost(`${api}/decisions/${id}/contest`, body, headers, result, (out) => `Recorded: ${out.record_id}`)) {
      for (const el of form.elements) el.disabled = true;
    }
  });
})();

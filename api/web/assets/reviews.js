// reviews.js: the reviewer page. Each review's form records a final
// action through the JSON API with the reviewer's credentials (the ones
// the browser sent for the page) and shows the ledger's answer or the
// policy's refusal.
(() => {
  const main = document.getElementById("main");
  const api = (main && main.dataset.api) || "/v1";

  function terms(text) {
    const out = {};
    for (const part of text.split(",")) {
      const [k, v] = part.split("=").map((s) => (s || "").trim());
      if (!k) continue;
      out[k] = v !== "" && !Number.isNaN(Number(v)) ? Number(v) : v;
    }
    return out;
  }

  async function submit(form) {
    const id = form.dataset.decisionId;
    const result = form.querySelector(".result");
    const body = { action: form.elements.action.value };
    const reasons = form.elements.reasons.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (reasons.length) body.reasons = reasons;
    const note = form.elements.note.value.trim();
    if (note) body.note = note;
    const t = terms(form.elements.terms.value);
    if (Object.keys(t).length) body.counteroffer = t;
    result.className = "result";
    result.textContent = "Recording…";
    try {
      const res = await fetch(`${api}/decisions/${id}/actions`, {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      const out = await res.json();
      if (res.status === 201) {
        result.className = "result ok";
        result.textContent = `Recorded: final action ${out.record_id} is in the ledger.`;
        form.closest(".review").classList.add("done");
        for (const el of form.elements) el.disabled = true;
        return;
      }
      const details = (out.errors || []).map((e) => e.message).join("; ");
      result.className = "result fail";
      result.textContent = `Not recorded: ${out.detail || out.title}${details ? " — " + details : ""}`;
    } catch (err) {
      result.className = "result fail";
      result.textContent = `Not recorded: ${err.message}`;
    }
  }

  for (const form of document.querySelectorAll(".action-form")) {
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      submit(form);
    });
  }
})();

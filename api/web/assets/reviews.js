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
    const ok = await GlassboxPost(`${api}/decisions/${id}/actions`, body, {}, result,
      (out) => `Recorded: final action ${out.record_id} is in the ledger.`);
    if (ok) {
      form.closest(".review").classList.add("done");
      for (const el of form.elements) el.disabled = true;
    }
  }

  for (const form of document.querySelectorAll(".action-form")) {
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      submit(form);
    });
  }
})();

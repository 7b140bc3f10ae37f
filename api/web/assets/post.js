// post.js: POST a JSON body to the API with the page's credentials and
// show the answer in a status element: the record recorded, or the
// problem document's detail and errors. Shared by the pages that write.
const GlassboxPost = async (url, body, headers, result, recorded) => {
  result.className = "result";
  result.textContent = "…";
  try {
    const res = await fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", Accept: "application/json", ...headers },
      body: JSON.stringify(body),
    });
    const out = await res.json();
    if (res.status === 201) {
      result.className = "result ok";
      result.textContent = recorded(out);
      return true;
    }
    const details = (out.errors || []).map((e) => e.message).join("; ");
    result.className = "result fail";
    result.textContent = `Not recorded: ${out.detail || out.title}${details ? " — " + details : ""}`;
  } catch (err) {
    result.className = "result fail";
    result.textContent = `Not recorded: ${err.message}`;
  }
  return false;
};

// Early duplicate hint: while a partner types the customer, ask the plugin whether a registration may already
// exist. The answer says only that one exists and why, never whose it is.
(function () {
  const form = document.getElementById("dr-form");
  const hint = document.getElementById("dr-hint");
  if (!form || !hint || !window.fetch) return;
  let timer = null;
  async function check() {
    const params = new URLSearchParams();
    for (const name of ["customer_name", "customer_domain", "country"]) {
      params.append(name, form.elements[name].value);
    }
    form.querySelectorAll('input[name="products"]:checked').forEach((p) => params.append("products", p.value));
    if (!params.get("customer_name").trim() && !params.get("customer_domain").trim()) {
      hint.hidden = true;
      return;
    }
    try {
      const res = await fetch(form.dataset.check + "?" + params.toString(), { credentials: "same-origin" });
      if (!res.ok) return;
      const body = await res.json();
      if (body.conflict) {
        const why = body.kinds.map((k) => ({ domain: "the same website", name: "a very similar company name",
          country_products: "a similar name in the same country for the same products" }[k] || k));
        hint.textContent = "A registration for this customer may already exist (" + why.join(", ") +
          "). You can still submit; the channel team will review both.";
        hint.hidden = false;
      } else {
        hint.hidden = true;
      }
    } catch (e) {
      hint.hidden = true;
    }
  }
  form.addEventListener("input", (e) => {
    if (!["customer_name", "customer_domain", "country", "products"].includes(e.target.name)) return;
    clearTimeout(timer);
    timer = setTimeout(check, 350);
  });
  check();
})();

// The import job page: poll the progress of a running job, and enable "Import the valid rows"
// only once its box is ticked. A static file, so the Content-Security-Policy needs no
// 'unsafe-inline' for this page.
(function () {
  const bar = document.getElementById("import-progress");
  const text = document.getElementById("import-progress-text");
  if (bar && bar.dataset.progressUrl) {
    const poll = function () {
      fetch(bar.dataset.progressUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(r => r.json())
        .then(data => {
          bar.value = data.percent;
          text.textContent = data.processed.toLocaleString() + " of about " + data.total.toLocaleString() + " rows";
          if (data.working) { setTimeout(poll, 1000); } else { window.location.reload(); }
        })
        .catch(() => setTimeout(poll, 3000));
    };
    setTimeout(poll, 1000);
  }
  const box = document.getElementById("id_valid_only");
  const go = document.getElementById("import-confirm");
  if (box && go) {
    box.addEventListener("change", () => { go.disabled = !box.checked; });
  }
})();

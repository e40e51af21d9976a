// On a phone the filters start folded (unless some are on), so the numbers come first.
(function () {
  const filters = document.getElementById("filters");
  if (filters && filters.dataset.filtered !== "1" && window.matchMedia("(max-width: 1000px)").matches) {
    filters.open = false;
  }
})();

// A sidebar filter picked by name (the admin's select2 autocomplete) applies on choice.
// select2 reports its change through jQuery, so the handler is bound with django.jQuery.
window.addEventListener("load", function () {
  if (!window.django || !window.django.jQuery) { return; }
  window.django.jQuery(document).on("change", "form.picker-filter select", function () {
    this.form.submit();
  });
});

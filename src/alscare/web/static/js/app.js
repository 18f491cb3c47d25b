// alscare: the little JavaScript the pages use (everything works without it).
// - a [data-print] button prints the page;
// - the worklist's filter form updates the list as you type or choose (htmx attributes);
// - a <select data-autosubmit> submits its form.
document.addEventListener("click", function (e) {
  var t = e.target.closest("[data-print]");
  if (t) { e.preventDefault(); window.print(); }
});
document.addEventListener("change", function (e) {
  if (e.target.matches("select[data-autosubmit]")) { e.target.form.submit(); }
});

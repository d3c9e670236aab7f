document.querySelectorAll('button[data-open]').forEach(function (b) {
  b.addEventListener('click', function () {
    var open = b.getAttribute('data-open') === '1';
    document.querySelectorAll('details.scenario').forEach(function (d) { d.open = open; });
  });
});
function reveal() {
  var id = decodeURIComponent(location.hash.slice(1));
  var el = id && document.getElementById(id);
  for (var p = el; p; p = p.parentElement) { if (p.tagName === 'DETAILS') p.open = true; }
  if (el) el.scrollIntoView();
}
window.addEventListener('hashchange', reveal);
if (location.hash) reveal();

// Small behaviours shared by every page. Page-specific code lives beside its template.
document.addEventListener("htmx:responseError", function (event) {
  const box = document.getElementById("messages");
  if (box && event.detail.xhr.status >= 500) {
    box.innerHTML = '<div class="alert alert-danger py-2">Something went wrong on our side. Please try again.</div>';
  }
});

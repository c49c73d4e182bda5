// Starts Swagger UI on the API reference page (shared/web/reference.py). A file of its own, so
// the page runs no inline script; the OpenAPI document's URL comes from a data attribute.
// validatorUrl: null keeps Swagger UI from sending the document to an outside validator.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    tryItOutEnabled: false,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});

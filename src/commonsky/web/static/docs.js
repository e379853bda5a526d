// The display API's reference (Swagger UI, vendored): signed-in users only; "Try it out" writes send the
// session's CSRF token like the map page does.
fetch("/api/me", { credentials: "same-origin" })
  .then((response) => (response.ok ? response.json() : null))
  .then((me) => {
    window.SwaggerUIBundle({
      url: "/api/openapi.json",
      dom_id: "#swagger-ui",
      requestInterceptor: (request) => {
        if (me) request.headers["X-CSRF-Token"] = me.csrf;
        return request;
      },
    });
  });

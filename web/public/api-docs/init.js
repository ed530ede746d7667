// Starts Swagger UI on the server's /api/docs page (for signed-in accounts). The page's
// Content-Security-Policy runs only scripts of the web root and lets them call only this server,
// so there is no inline script and no external validator. "Try it out" uses the session cookie;
// state-changing requests get the session's CSRF token, as the web app sends it.
/* global SwaggerUIBundle */
;(async () => {
  let csrf = ''
  try {
    const r = await fetch('/api/session', { credentials: 'same-origin' })
    if (r.ok) csrf = (await r.json()).csrf_token || ''
  } catch {
    csrf = ''
  }
  window.ui = SwaggerUIBundle({
    url: '/api/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    displayRequestDuration: true,
    requestInterceptor: (req) => {
      if (csrf && !/^(GET|HEAD|OPTIONS)$/i.test(req.method || 'GET')) req.headers['X-CSRF-Token'] = csrf
      return req
    },
  })
})()

// Theme before first paint: light, dark or system (the default), saved by the theme toggle.
// A file rather than an inline script, so the page's Content-Security-Policy can forbid inline
// scripts (script-src 'self'). index.html loads it without defer: it must run before the body
// is painted.
(function () {
  try {
    var choice = localStorage.getItem('tocsin.theme');
    var dark = choice === 'dark' || (choice !== 'light' && matchMedia('(prefers-color-scheme: dark)').matches);
    var root = document.documentElement;
    root.classList.toggle('dark', dark);
    root.style.colorScheme = dark ? 'dark' : 'light';
  } catch {
    // No storage (disabled, or a sandboxed frame): the app applies the system's choice itself.
  }
})();

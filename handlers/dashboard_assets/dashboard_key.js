/* autocanary dashboard: the API key the operator entered (plain JavaScript, no build step).
 *
 * The key is kept in this tab's sessionStorage (gone when the tab closes; never in
 * localStorage, a cookie or a URL) and sent only in the x-functions-key header. A key in the
 * page's URL (?code=, from an old link) is never used: it is taken out of the address bar so
 * it stays out of the history and bookmarks, and the sign-in form says why.
 * window.autocanaryKey: get(), set(key), forget(), dropFromUrl() (true if the URL had one).
 */
(function () {
  "use strict";

  var STORE = "autocanary.key";
  var memory = "";  // when sessionStorage is refused (a locked-down browser)

  function storage() {
    try { return window.sessionStorage; } catch (e) { return null; }
  }

  function get() {
    var s = storage();
    try { return (s && s.getItem(STORE)) || memory; } catch (e) { return memory; }
  }

  function set(key) {
    memory = key;
    var s = storage();
    try { if (s) { s.setItem(STORE, key); } } catch (e) { /* kept in memory only */ }
  }

  function forget() {
    memory = "";
    var s = storage();
    try { if (s) { s.removeItem(STORE); } } catch (e) { /* nothing stored */ }
  }

  function dropFromUrl() {
    var url = new URL(window.location.href);
    if (!url.searchParams.has("code")) { return false; }
    url.searchParams.delete("code");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    return true;
  }

  window.autocanaryKey = { get: get, set: set, forget: forget, dropFromUrl: dropFromUrl };
}());

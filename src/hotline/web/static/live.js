// Shared by desk.js and wallboard.js: a websocket that reconnects (the server's first message
// is always the current state, so a reconnect needs nothing else), and JSON POSTs with CSRF.
(function () {
  "use strict";
  function connect(path, onEvent, link) {
    var retry = 1000;
    function open() {
      var scheme = location.protocol === "https:" ? "wss:" : "ws:";
      var socket = new WebSocket(scheme + "//" + location.host + path);
      socket.onopen = function () { retry = 1000; link.className = "link-state up"; };
      socket.onmessage = function (m) { onEvent(JSON.parse(m.data)); };
      socket.onclose = function (event) {
        link.className = "link-state down";
        if (event.code === 4001) {  // the login ended (logout elsewhere, expiry): log in again
          location.href = "/login?next=" + encodeURIComponent(location.pathname);
          return;
        }
        setTimeout(open, retry);
        retry = Math.min(retry * 2, 15000);
      };
    }
    open();
  }

  function post(url, body, csrf) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.text().then(function (raw) {
        var data = {};
        try { data = raw ? JSON.parse(raw) : {}; } catch (e) { data = {error: raw}; }
        if (!response.ok) { throw new Error(data.error || ("请求失败（" + response.status + "）")); }
        return data;
      });
    });
  }

  window.hotlineLive = {connect: connect, post: post};
})();

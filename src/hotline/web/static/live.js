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

  function getJSON(url) {
    return fetch(url, {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) { throw new Error("请求失败（" + r.status + "）"); }
      return r.json();
    });
  }

  // 待回拨: open callback tasks (GET /api/callbacks, hotline.queue), every 30 s and on demand.
  var KINDS = {abandoned: "放弃来电", message: "留言", virtual_hold: "保留排队"};
  var STATUSES = {pending: "待回拨", dialing: "拨号中"};
  function callbacks(table, count) {
    function load() {
      getJSON("/api/callbacks").then(function (tasks) {
        var body = table.querySelector("tbody");
        body.textContent = "";
        tasks.forEach(function (t) {
          var tr = document.createElement("tr");
          [KINDS[t.kind] || t.kind, t.number, t.line || t.queue, STATUSES[t.status] || t.status,
           t.attempts, new Date(t.due_at).toLocaleString("zh-CN", {hour12: false})
          ].forEach(function (value) {
            var td = document.createElement("td");
            td.textContent = value == null ? "" : String(value);
            tr.appendChild(td);
          });
          body.appendChild(tr);
        });
        count.textContent = "（" + tasks.length + "）";
      }).catch(function () { count.textContent = "（无法读取）"; });
    }
    load();
    setInterval(load, 30000);
    return load;
  }

  window.hotlineLive = {connect: connect, post: post, getJSON: getJSON, callbacks: callbacks};
})();

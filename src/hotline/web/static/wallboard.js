// 班长监控大屏: queues, waiting callers, agents by state, today's counters against the
// GB/T 33358 targets, alerts, listen / whisper / barge. Plain JS, no build step.
// The first message of /ws/wallboard is a snapshot; then "agents", "queues" and "alerts" events,
// the state ones coalesced into "wallboard.batch" messages when they come fast.
(function () {
  "use strict";
  var root = document.getElementById("wallboard");
  var csrf = root.dataset.csrf;
  var canSpy = root.dataset.canSpy === "yes";
  var agents = {}, queues = {}, stats = {}, targets = {}, alerts = [], queueNames = {};
  var snapshotAt = Date.now();
  var MAX_ALERTS = 30;
  var STATE_ORDER = ["on_call", "ringing", "wrap_up", "ready", "paused", "logged_out"];
  var SPY = [["listen", "监听"], ["whisper", "耳语"], ["barge", "强插"]];

  function $(id) { return document.getElementById(id); }

  function cell(tr, value, cls) {
    var td = document.createElement("td");
    td.textContent = value == null ? "" : String(value);
    if (cls) { td.className = cls; }
    tr.appendChild(td);
    return td;
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
    return (h ? h + ":" : "") + (h && m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  function percent(value) { return value == null ? "—" : (value * 100).toFixed(1) + "%"; }

  function elapsed() { return (Date.now() - snapshotAt) / 1000; }

  function renderQueues() {
    var body = $("queues").querySelector("tbody");
    var callers = $("callers").querySelector("tbody");
    body.textContent = ""; callers.textContent = "";
    var names = {};
    Object.keys(queues).forEach(function (k) { names[queues[k].name] = true; });
    Object.keys(stats).forEach(function (k) { names[k] = true; });
    Object.keys(names).sort().forEach(function (name) {
      var q = null;
      Object.keys(queues).forEach(function (k) { if (queues[k].name === name) { q = queues[k]; } });
      var st = stats[name] || {};
      var tr = document.createElement("tr");
      tr.dataset.queue = name;
      cell(tr, queueNames[name] || name, "queue-name").title = name;
      cell(tr, q ? q.waiting : 0, "waiting" + (q && q.waiting ? " hot" : ""));
      var longest = q ? q.longest_wait + (q.waiting ? elapsed() : 0) : 0;
      cell(tr, q && q.waiting ? duration(longest) : "—",
           longest >= (targets.long_wait_seconds || 60) ? "bad" : "");
      // The estimated wait of a new caller (hotline.queue.estimate), as of the last figures.
      cell(tr, q && q.estimated_wait != null ? duration(q.estimated_wait) : "—", "estimated-wait");
      cell(tr, q ? q.logged_in + " / " + q.available : "—");
      cell(tr, st.offered == null ? 0 : st.offered, "offered");
      cell(tr, percent(st.connect_rate), grade(st.connect_rate, targets.connect_rate));
      cell(tr, percent(st.service_level), grade(st.service_level, targets.service_level));
      cell(tr, percent(st.abandon_rate));
      cell(tr, st.average_handling == null ? "—" : duration(st.average_handling));
      body.appendChild(tr);
      (q ? q.callers : []).forEach(function (c) {
        var row = document.createElement("tr");
        var wait = c.wait + elapsed();
        cell(row, queueNames[name] || name); cell(row, c.position); cell(row, c.number || "未知号码", "caller-number");
        cell(row, duration(wait), wait >= (targets.long_wait_seconds || 60) ? "bad" : "");
        callers.appendChild(row);
      });
    });
    if (!callers.children.length) {
      var empty = document.createElement("tr");
      cell(empty, "当前没有排队来电", "muted").colSpan = 4;
      callers.appendChild(empty);
    }
  }

  function grade(value, target) {
    if (value == null || target == null) { return ""; }
    return value >= target ? "good" : "bad";
  }

  function renderAgents() {
    var body = $("agents").querySelector("tbody");
    body.textContent = "";
    var list = Object.keys(agents).map(function (k) { return agents[k]; });
    list.sort(function (a, b) {
      return STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state) ||
        (a.extension < b.extension ? -1 : 1);
    });
    var counts = {};
    list.forEach(function (a) {
      counts[a.label] = (counts[a.label] || 0) + 1;
      var tr = document.createElement("tr");
      tr.dataset.agent = a.user_id;
      cell(tr, a.name);
      cell(tr, a.extension);
      var badge = document.createElement("span");
      badge.className = "state state-" + a.state;
      badge.textContent = a.label;
      cell(tr, "").appendChild(badge);
      cell(tr, a.state === "logged_out" ? "" : duration((Date.now() - a.sinceMs) / 1000), "agent-duration");
      cell(tr, duration(pausedToday(a)), "agent-paused");
      cell(tr, a.caller_number);
      cell(tr, (a.queues || []).map(function (q) { return queueNames[q] || q; }).join("、"));
      if (canSpy) {
        var td = cell(tr, "");
        SPY.forEach(function (m) {
          var b = document.createElement("button");
          b.type = "button"; b.textContent = m[1]; b.className = "spy spy-" + m[0];
          b.disabled = a.state !== "on_call";
          b.addEventListener("click", function () { spy(a, m[0], m[1]); });
          td.appendChild(b);
        });
      }
      body.appendChild(tr);
    });
    $("agents-summary").textContent = Object.keys(counts).map(function (k) {
      return k + " " + counts[k];
    }).join(" · ");
  }

  function spy(agent, mode, label) {
    message(label + " " + agent.name + "：正在呼叫您的软电话…");
    window.hotlineLive.post("/wallboard/spy", {agent_id: agent.user_id, mode: mode}, csrf)
      .then(function (d) { message(d.message); })
      .catch(function (e) { message(e.message, true); });
  }

  function message(text, isError) {
    var el = $("wall-message");
    el.textContent = text || "";
    el.className = "desk-message" + (isError ? " error" : "");
  }

  function alertText(a) {
    if (a.message) { return a.message; }
    switch (a.type) {
      case "emergency":
        return "紧急转接 " + a.service + "：来电 " + (a.caller || a.contact_number || "未知号码") +
          (a.line ? "（" + a.line + "）" : "") + (a.transcript ? " “" + a.transcript + "”" : "");
      case "ticket_overdue": return "工单 " + a.number + " 已超期";
      case "ticket_nearly_overdue": return "工单 " + a.number + " 即将超期";
      default: return a.type;
    }
  }

  function addAlert(a) {
    alerts.unshift({event: a, at: new Date()});
    alerts = alerts.slice(0, MAX_ALERTS);
    var list = $("alerts");
    list.textContent = "";
    alerts.forEach(function (item) {
      var li = document.createElement("li");
      li.className = "alert alert-" + item.event.type.replace(/[^a-z_.]/g, "").replace(/\./g, "-");
      li.textContent = item.at.toLocaleTimeString("zh-CN", {hour12: false}) + "  " + alertText(item.event);
      list.appendChild(li);
    });
    $("alerts-count").textContent = "（" + alerts.length + "）";
  }

  function setAgent(a) { a.sinceMs = Date.parse(a.since); a.receivedMs = Date.now(); agents[a.user_id] = a; }

  // Today's pause time: the server's figure when it arrived, plus the pause running since.
  function pausedToday(a) {
    return (a.paused_today || 0) + (a.state === "paused" ? (Date.now() - a.receivedMs) / 1000 : 0);
  }

  function setNodeQueues(node, list) {
    Object.keys(queues).forEach(function (k) { if (queues[k].node === node) { delete queues[k]; } });
    list.forEach(function (q) { q.node = node; queues[node + "/" + q.name] = q; });
  }

  // One message is one event, or a "wallboard.batch" of the latest event per agent / queue
  // since the last message (the server coalesces; alerts are never merged): applied in order,
  // drawn once.
  function onEvent(e) {
    if (e.type === "wallboard.batch") {
      var drawn = false;
      e.events.forEach(function (each) { drawn = apply(each) || drawn; });
      if (e.abandoned) { setTimeout(reloadCallbacks, 1000); }
      if (drawn) { renderAgents(); renderQueues(); }
      return;
    }
    if (apply(e)) { renderAgents(); renderQueues(); }
  }

  // Applies one event; true when the tables are to be drawn again.
  function apply(e) {
    switch (e.type) {
      case "snapshot":
        agents = {}; queues = {}; stats = e.stats || {}; targets = e.targets || {};
        queueNames = e.queue_names || {};
        snapshotAt = Date.now();
        (e.agents || []).forEach(setAgent);
        (e.queues || []).forEach(function (q) { queues[q.node + "/" + q.name] = q; });
        $("targets").textContent = "国标 GB/T 33358 目标：" + targets.service_level_seconds +
          "秒接通率 ≥ " + percent(targets.service_level) + "，接通率 ≥ " + percent(targets.connect_rate) +
          "；来电等待超过 " + targets.long_wait_seconds + " 秒告警";
        return true;
      case "agent_state": setAgent(e.agent); return true;
      case "queue.changed":
        rebase(); e.queue.node = e.node; queues[e.node + "/" + e.queue.name] = e.queue;
        if (e.change && e.change.kind === "abandoned") { setTimeout(reloadCallbacks, 1000); }
        return true;
      case "queues.resynced": case "queues.node": rebase(); setNodeQueues(e.node, e.queues || []); return true;
      case "queue.stats":
        stats[e.queue] = e.stats;
        Object.keys(e.estimated_wait || {}).forEach(function (node) {
          var q = queues[node + "/" + e.queue];
          if (q) { q.estimated_wait = e.estimated_wait[node]; }
        });
        return true;
      default:
        if (e.topic === "alerts") { addAlert(e); }
        return false;
    }
  }

  // Waits are counted from the moment a queue's figures arrived; new figures restart the count.
  function rebase() {
    var passed = elapsed();
    Object.keys(queues).forEach(function (k) {
      var q = queues[k];
      q.longest_wait = q.longest_wait + (q.waiting ? passed : 0);
      q.callers.forEach(function (c) { c.wait += passed; });
    });
    snapshotAt = Date.now();
  }

  // Every second: the clock, the waits and the agents' durations (rows are not rebuilt, so a
  // button is never replaced under the supervisor's pointer).
  setInterval(function () {
    $("clock").textContent = new Date().toLocaleString("zh-CN", {hour12: false});
    renderQueues();
    Array.prototype.forEach.call(document.querySelectorAll("#agents tr[data-agent]"), function (tr) {
      var a = agents[tr.dataset.agent];
      var td = tr.querySelector(".agent-duration");
      if (a && td && a.state !== "logged_out") { td.textContent = duration((Date.now() - a.sinceMs) / 1000); }
      var paused = tr.querySelector(".agent-paused");
      if (a && paused) { paused.textContent = duration(pausedToday(a)); }
    });
  }, 1000);
  var reloadCallbacks = window.hotlineLive.callbacks($("callbacks"), $("callbacks-count"));
  window.hotlineLive.connect("/ws/wallboard", onEvent, $("link"));
})();

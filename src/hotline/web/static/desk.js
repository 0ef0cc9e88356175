// 坐席工作台: state buttons, screen pop, transfers, the ticket form. Plain JS, no build step.
// Live updates come over /ws/desk; a closed socket reconnects and gets the current state again.
(function () {
  "use strict";
  var root = document.getElementById("desk");
  var csrf = root.dataset.csrf;
  var agent = null;
  var call = null;

  function $(id) { return document.getElementById(id); }
  function text(id, value) { $(id).textContent = value == null ? "" : String(value); }

  function message(msg, isError) {
    var el = $("desk-message");
    el.textContent = msg || "";
    el.className = "desk-message" + (isError ? " error" : "");
  }

  function post(url, body) { return window.hotlineLive.post(url, body, csrf); }

  function duration(seconds) {
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return (m > 0 ? m + "分" : "") + s + "秒";
  }

  function showAgent(a) {
    agent = a;
    if (!a) { return; }
    agent.sinceMs = Date.parse(a.since);
    var label = $("state-label");
    label.textContent = a.label;
    label.className = "state state-" + a.state;
    text("extension", "分机 " + a.extension);
    var s = a.state;
    $("btn-ready").disabled = !(s === "logged_out" || s === "paused" || s === "wrap_up");
    $("btn-pause").disabled = !(s === "logged_out" || s === "ready" || s === "paused" || s === "wrap_up");
    $("btn-wrap-up").disabled = s !== "wrap_up";
    $("btn-logout").disabled = (s === "logged_out" || s === "ringing" || s === "on_call");
    var onCall = s === "on_call";
    Array.prototype.forEach.call(document.querySelectorAll(".transfer button"), function (b) {
      b.disabled = !onCall;
    });
    tick();
  }

  function tick() {
    if (agent && agent.state === "logged_out") { text("state-duration", ""); return; }
    if (agent && agent.sinceMs) {
      var seconds = Math.max(0, Math.round((Date.now() - agent.sinceMs) / 1000));
      text("state-duration", duration(seconds));
    }
  }

  function rows(tableId, items, cells) {
    var body = $(tableId).querySelector("tbody");
    body.textContent = "";
    items.forEach(function (item) {
      var tr = document.createElement("tr");
      cells(item).forEach(function (value) {
        var td = document.createElement("td");
        td.textContent = value == null ? "" : String(value);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function when(iso) {
    var d = new Date(iso);
    if (isNaN(d)) { return iso; }
    return d.toLocaleString("zh-CN", {hour12: false});
  }

  function showPop(c) {
    call = c;
    $("pop-empty").hidden = !!c;
    $("pop-body").hidden = !c;
    if (!c) { return; }
    text("pop-number", c.caller_number || "（未显示号码）");
    text("pop-line", c.line ? c.line.name : (c.queue || ""));
    text("pop-region", c.region ? c.region.name : "");
    text("pop-ivr", c.ivr_choice ? ("按键 " + c.ivr_choice) : "");
    text("pop-category", c.category || "");
    text("pop-transcript", c.transcript || "（无）");
    $("pop-emergency").hidden = !c.emergency_service;
    text("pop-emergency", c.emergency_service ? ("该来电曾被判定为紧急情况，已转 " + c.emergency_service) : "");
    text("pop-calls-count", "（" + c.earlier_calls.length + "）");
    rows("pop-calls", c.earlier_calls, function (x) {
      return [when(x.started_at), x.outcome, x.category, x.transcript];
    });
    text("pop-tickets-count", "（" + c.tickets.length + "）");
    rows("pop-tickets", c.tickets, function (t) {
      return [t.number, t.title, t.category, t.status, when(t.created_at)];
    });
    fillForm(c);
  }

  function fillForm(c) {
    var form = $("ticket-form");
    var f = c.form || {};
    form.elements.call_id.value = c.call_id == null ? "" : c.call_id;
    form.elements.line_code.value = f.line_code || "";
    form.elements.contact_number.value = f.contact_number || "";
    form.elements.category.value = f.category || "";
    form.elements.content.value = f.content || "";
    form.elements.title.value = f.category ? (f.category + "：" + (f.contact_number || "")) : "";
    if (f.region_code) { form.elements.region_code.value = f.region_code; }
    form.dataset.key = "desk-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
    text("ticket-result", "");
  }

  function onEvent(event) {
    switch (event.type) {
      case "hello":
        if (event.error) { message(event.error, true); }
        showAgent(event.agent);
        if (event.call) { showPop(event.call); }
        break;
      case "agent_state": showAgent(event.agent); break;
      case "screen_pop": showPop(event.call); message("来电：" + (event.call.caller_number || "")); break;
      case "call_connected": message("通话已接通"); break;
      case "call_ended": message("通话结束，请完成话后处理并登记工单"); break;
      case "notice": message(event.text, event.level === "error"); break;
    }
  }

  function changeState(state) {
    var body = {state: state};
    if (state === "paused") { body.reason = $("pause-reason").value; }
    post("/desk/state", body).then(function (d) { showAgent(d.agent); message(""); })
      .catch(function (e) { message(e.message, true); });
  }

  ["btn-ready", "btn-pause", "btn-logout"].forEach(function (id) {
    $(id).addEventListener("click", function () { changeState($(id).dataset.state); });
  });
  $("btn-wrap-up").addEventListener("click", function () {
    post("/desk/wrap-up/end").then(function (d) { showAgent(d.agent); })
      .catch(function (e) { message(e.message, true); });
  });

  function transfer(target) {
    post("/desk/transfer", {target: target}).then(function (d) { message(d.message); })
      .catch(function (e) { message(e.message, true); });
  }
  $("btn-transfer-queue").addEventListener("click", function () { transfer($("transfer-queue").value); });
  Array.prototype.forEach.call(document.querySelectorAll(".transfer-target"), function (b) {
    b.addEventListener("click", function () { transfer(b.dataset.target); });
  });

  $("ticket-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var form = e.target;
    var el = form.elements;
    var body = {
      title: el.title.value, content: el.content.value, contact_number: el.contact_number.value,
      citizen_name: el.citizen_name.value, category: el.category.value,
      region_code: el.region_code.value, line_code: el.line_code.value,
      call_id: el.call_id.value ? Number(el.call_id.value) : null, accept: el.accept.checked,
      idempotency_key: form.dataset.key || null
    };
    $("btn-file").disabled = true;
    post("/desk/tickets", body).then(function (d) {
      $("ticket-result").className = "ok";
      text("ticket-result", "工单已提交：" + d.number + "（" + (d.status === "accepted" ? "已受理" : "草稿") + "）");
    }).catch(function (err) {
      $("ticket-result").className = "error";
      text("ticket-result", err.message);
    }).then(function () { $("btn-file").disabled = false; });
  });

  setInterval(tick, 1000);
  showAgent(null);
  window.hotlineLive.callbacks($("callbacks"), $("callbacks-count"));
  window.hotlineLive.connect("/ws/desk", onEvent, $("link"));
})();

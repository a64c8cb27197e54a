/* Agent console. Every piece of chat content is put on the page with textContent, never innerHTML. */
(function () {
  "use strict";

  var API = "/api/v1/agent";
  var AUTHOR = { citizen: "市民", bot: "智能客服", agent: "人工客服", system: "系统" };
  var CHANNEL = { web: "网页", wechat: "微信", app: "App" };
  var state = { agent: null, current: null, ws: null, retry: 0, skills: [] };

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function notice(text) { $("notice").textContent = text || ""; }

  function request(method, path, body) {
    var init = { method: method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.status === 401 && path !== API + "/login") showLogin();
        if (!response.ok) {
          var error = new Error((data.error && data.error.message_zh) || ("请求失败：" + response.status));
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  // --- login ------------------------------------------------------------------------------------

  function showLogin() {
    state.agent = null;
    if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
    $("desk-view").hidden = true;
    $("who").hidden = true;
    $("login-view").hidden = false;
    $("login-name").focus();
  }

  function showDesk(agent) {
    state.agent = agent;
    $("agent-name").textContent = agent.name;
    $("agent-skills").textContent = "技能：" + agent.skills.join("、") + " · 同时接待 " + agent.capacity + " 个";
    $("login-view").hidden = true;
    $("who").hidden = false;
    $("desk-view").hidden = false;
    loadSkills();
    loadQueue();
    connect();
  }

  $("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("login-error").textContent = "";
    request("POST", API + "/login", { name: $("login-name").value.trim(), password: $("login-password").value })
      .then(function (data) { $("login-password").value = ""; showDesk(data.agent); })
      .catch(function (error) { $("login-error").textContent = error.message; });
  });

  $("logout").addEventListener("click", function () {
    request("POST", API + "/logout").finally(showLogin);
  });

  // --- queue ------------------------------------------------------------------------------------

  function minutes(seconds) { return seconds < 60 ? seconds + " 秒" : Math.floor(seconds / 60) + " 分钟"; }

  function loadQueue() {
    return request("GET", API + "/queue").then(function (data) {
      var waiting = $("waiting"), mine = $("mine");
      clear(waiting); clear(mine);
      $("waiting-count").textContent = data.waiting.length;
      $("mine-count").textContent = data.mine.length + "/" + data.capacity;
      data.waiting.forEach(function (item) {
        var li = el("li", "ac-waiting");
        li.dataset.conversation = item.conversation_id;
        var row = el("div", "ac-row");
        row.appendChild(el("span", null, item.skill + " 第" + item.position + "位 · " + (CHANNEL[item.channel] || item.channel)));
        var take = el("button", null, "接入");
        take.type = "button";
        take.addEventListener("click", function () { takeTicket(item.ticket_id, take); });
        row.appendChild(take);
        li.appendChild(row);
        li.appendChild(el("span", "ac-q", item.last_question || "（无文字）"));
        li.appendChild(el("span", "ac-muted", "已等待 " + minutes(item.waited_s)));
        waiting.appendChild(li);
      });
      if (!data.waiting.length) waiting.appendChild(el("li", "ac-muted", "暂无排队"));
      data.mine.forEach(function (item) {
        var li = el("li", "ac-mine" + (item.conversation_id === state.current ? " ac-current" : ""));
        var open = el("button", "ac-secondary", "打开");
        open.type = "button";
        open.addEventListener("click", function () { openConversation(item.conversation_id); });
        var row = el("div", "ac-row");
        row.appendChild(el("span", null, item.skill + " · " + (CHANNEL[item.channel] || item.channel)));
        row.appendChild(open);
        li.appendChild(row);
        li.appendChild(el("span", "ac-q", item.last_question || "（无文字）"));
        mine.appendChild(li);
      });
      if (!data.mine.length) mine.appendChild(el("li", "ac-muted", "暂无会话"));
    }).catch(function (error) { if (error.status !== 401) notice(error.message); });
  }

  function takeTicket(ticketId, button) {
    button.disabled = true;
    notice("");
    request("POST", API + "/tickets/" + ticketId + "/take")
      .then(function (data) { return loadQueue().then(function () { openConversation(data.conversation_id); }); })
      .catch(function (error) { notice(error.message); loadQueue(); });
  }

  function loadSkills() {
    request("GET", API + "/skills").then(function (data) {
      var select = $("transfer-skill");
      clear(select);
      data.skills.forEach(function (skill) {
        var option = el("option", null, skill);
        option.value = skill;
        select.appendChild(option);
      });
    }).catch(function () {});
  }

  // --- conversation -----------------------------------------------------------------------------

  function renderMessage(message) {
    var li = el("li", "ac-msg ac-from-" + message.author);
    var meta = el("div", "ac-meta", (AUTHOR[message.author] || message.author) + " · #" + message.seq + " · " +
      (message.created_at ? new Date(message.created_at).toLocaleTimeString("zh-CN") : ""));
    var text = el("div", "ac-text", message.text);
    if (message.masked) {
      var reveal = el("button", "ac-secondary", "显示原文");
      reveal.type = "button";
      reveal.title = "查看未脱敏的原文（将记录审计日志）";
      reveal.addEventListener("click", function () {
        request("POST", API + "/conversations/" + state.current + "/reveal", { seq: message.seq })
          .then(function (data) {
            text.textContent = data.text;
            reveal.replaceWith(el("span", "ac-revealed", "已显示原文（已记录审计）"));
          })
          .catch(function (error) { notice(error.message); });
      });
      meta.appendChild(reveal);
    }
    li.appendChild(meta);
    li.appendChild(text);
    (message.buttons || []).forEach(function (b) { li.appendChild(el("span", "ac-muted", "［" + b.title + "］")); });
    return li;
  }

  function closeChat(message) {
    state.current = null;
    clear($("transcript"));
    $("chat-title").textContent = "请从左侧选择或接入会话";
    $("chat-channel").textContent = "";
    ["reply-form", "actions", "order-box", "suggest-box"].forEach(function (id) { $(id).hidden = true; });
    notice(message);
  }

  function openConversation(conversationId) {
    state.current = conversationId;
    notice("");
    return request("GET", API + "/conversations/" + conversationId).then(function (data) {
      if (state.current !== conversationId) return;
      $("chat-title").textContent = "会话 " + conversationId.slice(0, 8) + (data.skill ? " · " + data.skill : "");
      $("chat-channel").textContent = "渠道：" + (CHANNEL[data.channel] || data.channel) +
        (data.citizen.external_id_tail ? "（用户尾号 " + data.citizen.external_id_tail + "）" : "") +
        " · 状态：" + ({ agent: "人工服务中", queued: "排队中", bot: "智能客服", closed: "已关闭" }[data.mode] || data.mode);
      var log = $("transcript");
      clear(log);
      data.messages.forEach(function (m) { log.appendChild(renderMessage(m)); });
      log.scrollTop = log.scrollHeight;
      var mine = data.assigned_to_me && data.mode === "agent";
      $("reply-form").hidden = !mine;
      $("actions").hidden = !mine;
      $("order-box").hidden = !mine;
      loadSuggestions(conversationId);
      Array.prototype.forEach.call(document.querySelectorAll(".ac-mine"), function (li) { li.classList.remove("ac-current"); });
    }).catch(function (error) {
      if (error.status === 403 || error.status === 404) closeChat(error.message); else notice(error.message);
    });
  }

  function loadSuggestions(conversationId) {
    request("GET", API + "/conversations/" + conversationId + "/suggestions").then(function (data) {
      var list = $("suggestions");
      clear(list);
      $("suggest-box").hidden = !data.question;
      $("suggest-q").textContent = data.question || "";
      (data.hits || []).forEach(function (hit) {
        var li = el("li");
        var use = el("button", "ac-secondary", "引用");
        use.type = "button";
        use.addEventListener("click", function () {
          var box = $("reply-text");
          box.value = (box.value ? box.value + "\n" : "") + "您可以参考：" + hit.question;
          box.focus();
        });
        var row = el("div", "ac-row");
        row.appendChild(el("span", null, hit.question));
        row.appendChild(use);
        li.appendChild(row);
        list.appendChild(li);
      });
      if (!(data.hits || []).length) list.appendChild(el("li", "ac-muted", "没有找到相关条目"));
    }).catch(function () { $("suggest-box").hidden = true; });
  }

  function sendReply() {
    var box = $("reply-text"), text = box.value.trim();
    if (!text || !state.current) return;
    request("POST", API + "/conversations/" + state.current + "/reply", { text: text })
      .then(function (data) {
        box.value = "";
        if (!data.delivered) notice("市民当前不在线，消息已保存，将在其重新连接时送达。");
        return openConversation(state.current);
      })
      .catch(function (error) { notice(error.message); });
  }

  $("reply-form").addEventListener("submit", function (event) { event.preventDefault(); sendReply(); });
  $("reply-text").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); sendReply(); }
  });

  $("end").addEventListener("click", function () {
    var id = state.current;
    request("POST", API + "/conversations/" + id + "/end")
      .then(function () { closeChat("会话已结束，已转回智能客服并邀请市民评价。"); return loadQueue(); })
      .catch(function (error) { notice(error.message); });
  });

  $("transfer").addEventListener("click", function () {
    var id = state.current, skill = $("transfer-skill").value;
    request("POST", API + "/conversations/" + id + "/transfer", { skill: skill })
      .then(function () { closeChat("已转接至“" + skill + "”队列。"); return loadQueue(); })
      .catch(function (error) { notice(error.message); });
  });

  $("order-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var result = $("order-result");
    result.textContent = "";
    request("POST", API + "/conversations/" + state.current + "/work-order", {
      category: $("order-category").value,
      summary: $("order-summary").value,
      contact_phone: $("order-phone").value.trim() || null,
      contact_consent: $("order-consent").checked
    }).then(function (data) {
      result.textContent = "工单已提交，编号 " + data.number;
      $("order-summary").value = "";
    }).catch(function (error) { result.textContent = error.message; });
  });

  // --- live updates -----------------------------------------------------------------------------

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + API + "/ws");
    state.ws = ws;
    ws.onopen = function () { state.retry = 0; $("conn").textContent = "实时连接正常"; $("conn").classList.add("ok"); };
    ws.onmessage = function (frame) {
      var event;
      try { event = JSON.parse(frame.data); } catch (e) { return; }
      if (event.type === "queue") loadQueue();
      if (event.type === "message") {
        loadQueue();
        if (event.conversation_id === state.current) openConversation(state.current);
      }
    };
    ws.onclose = function (event) {
      $("conn").textContent = "连接已断开，正在重连…";
      $("conn").classList.remove("ok");
      if (event.code === 4401) { showLogin(); return; }
      if (!state.agent) return;
      state.retry = Math.min(state.retry + 1, 6);
      setTimeout(function () { if (state.agent) { connect(); loadQueue(); } }, 500 * Math.pow(2, state.retry));
    };
  }

  request("GET", API + "/me").then(function (data) { showDesk(data.agent); }).catch(showLogin);
})();

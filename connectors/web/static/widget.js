/*
 * govbot web chat widget — plain JavaScript, no build step, no third-party code.
 *
 * Embed with one tag:
 *   <script src="http://HOST:8000/widget.js" data-govbot-user="optional-user-id"></script>
 * Optional attributes: data-govbot-open="true" (start opened), data-govbot-api="https://gw.example/"
 * (API base if it differs from where widget.js is served).
 *
 * Design notes
 * - All user and bot text is inserted with textContent / createTextNode, never as HTML.
 * - Outgoing messages go to a persisted outbox and are retried with the same client_message_id
 *   until the gateway answers; the gateway dedupes, so a retry is never processed twice.
 * - Every stored message has a per-conversation seq. The widget renders by seq (no duplicates,
 *   correct order) and, after any reconnect, fetches /api/v1/web/history?after=<last contiguous seq>.
 * - The UI lives in a shadow root so the host page's CSS cannot break it (and it cannot break the page).
 */
(function () {
  "use strict";
  if (window.GovbotWidget) return; // embedded twice: keep the first

  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  var scriptUrl = new URL(script ? script.src : "/widget.js", location.href);
  var API = new URL((script && script.getAttribute("data-govbot-api")) || "./", scriptUrl).href;
  if (API.charAt(API.length - 1) !== "/") API += "/";
  var START_OPEN = !!script && script.getAttribute("data-govbot-open") === "true";
  var MAX_CHARS = 2000;
  var REQUEST_TIMEOUT_MS = 30000;
  var HEARTBEAT_TIMEOUT_MS = 50000; // the server pings every 20 s

  // ---- storage (private browsing may forbid localStorage: fall back to memory) ------------------
  var memory = {};
  var store = {
    get: function (key) {
      try { return window.localStorage.getItem(key); } catch (e) { return memory[key] || null; }
    },
    set: function (key, value) {
      try { window.localStorage.setItem(key, value); } catch (e) { memory[key] = value; }
    },
    remove: function (key) {
      try { window.localStorage.removeItem(key); } catch (e) { delete memory[key]; }
    },
    getJSON: function (key) {
      var raw = store.get(key);
      if (!raw) return null;
      try { return JSON.parse(raw); } catch (e) { return null; }
    },
    setJSON: function (key, value) { store.set(key, JSON.stringify(value)); }
  };

  function randomId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID().replace(/-/g, "");
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  var userId = (script && (script.getAttribute("data-govbot-user") || "").trim()) || store.get("govbot.user");
  if (!userId) {
    userId = "web-" + randomId();
    store.set("govbot.user", userId);
  }
  var KEY_SESSION = "govbot.session." + userId;
  var KEY_OUTBOX = "govbot.outbox." + userId;
  var KEY_LARGE = "govbot.largefont";

  // ---- state ---------------------------------------------------------------------------------------
  var session = store.getJSON(KEY_SESSION); // {conversation_id, push_token}
  var outbox = store.getJSON(KEY_OUTBOX) || []; // [{id, text, display}]
  var mode = "bot";
  var seen = {}; // seq -> true, for the current conversation
  var synced = 0; // every seq <= synced of the current conversation is rendered
  var queueText = ""; // latest queue notice, for the status bar
  var payloadTitles = {}; // quick-reply payload -> title, to show "/request_human" as its title

  // ---- DOM helpers ---------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        if (name === "text") node.textContent = attrs[name];
        else if (name === "className") node.className = attrs[name];
        else node.setAttribute(name, attrs[name]);
      });
    }
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  var URL_RE = /(https?:\/\/[^\s<>"'，。！？；、）)\]]+)/g;

  /** Text with http(s) links made clickable; every piece is a text node or a checked <a>. */
  function richText(text) {
    var fragment = document.createDocumentFragment();
    var last = 0;
    String(text).replace(URL_RE, function (match, _g, offset) {
      if (offset > last) fragment.appendChild(document.createTextNode(text.slice(last, offset)));
      var link = el("a", { href: match, target: "_blank", rel: "noopener noreferrer", text: match });
      fragment.appendChild(link);
      last = offset + match.length;
      return match;
    });
    if (last < text.length) fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  // ---- UI --------------------------------------------------------------------------------------------
  var host = el("div", { id: "govbot-widget-host" });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var stylesheet = el("link", { rel: "stylesheet", href: new URL("widget.css", scriptUrl).href });
  var container = el("div", { className: "gb-root", lang: "zh-CN" });
  container.style.visibility = "hidden"; // until the stylesheet has loaded
  function reveal() { container.style.visibility = ""; scrollToEnd(); }
  stylesheet.addEventListener("load", reveal);
  stylesheet.addEventListener("error", reveal);
  setTimeout(reveal, 3000);

  var launcher = el("button", {
    type: "button", className: "gb-launcher", "aria-expanded": "false", "aria-controls": "gb-panel",
    "aria-label": "打开在线咨询：北京政务服务智能客服", text: "在线咨询"
  });
  var title = el("h2", { id: "gb-title", className: "gb-title", text: "北京政务服务智能客服" });
  var fontToggle = el("button", {
    type: "button", className: "gb-tool gb-font", "aria-pressed": "false", title: "切换大字体显示", text: "大字体"
  });
  var closeButton = el("button", {
    type: "button", className: "gb-tool gb-close", "aria-label": "收起对话窗口", title: "收起", text: "×"
  });
  var connBar = el("div", { className: "gb-conn", role: "status" });
  connBar.hidden = true;
  var statusBar = el("div", { className: "gb-status", role: "status", "aria-live": "polite" });
  statusBar.hidden = true;
  var intro = el("p", {
    className: "gb-intro",
    text: "欢迎使用！可咨询办事指南、所需材料、办件进度、办公时间等，也可以随时转人工客服。"
  });
  var log = el("div", {
    className: "gb-log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
    "aria-label": "对话记录", tabindex: "0"
  });
  var typing = el("div", { className: "gb-typing", role: "status" }, [
    el("span", { className: "gb-dots", "aria-hidden": "true" }, [el("i"), el("i"), el("i")]),
    el("span", { text: "客服正在输入…" })
  ]);
  typing.hidden = true;
  var input = el("textarea", {
    id: "gb-input", className: "gb-input", rows: "2", maxlength: String(MAX_CHARS),
    placeholder: "请输入您的问题", "aria-describedby": "gb-hint", enterkeyhint: "send"
  });
  var sendButton = el("button", { type: "submit", className: "gb-send", text: "发送" });
  var form = el("form", { className: "gb-form", "aria-label": "发送消息" }, [
    el("label", { for: "gb-input", className: "gb-sr", text: "输入您的问题" }),
    input,
    sendButton
  ]);
  var hint = el("p", { id: "gb-hint", className: "gb-hint", text: "按 Enter 发送，Shift+Enter 换行，Esc 收起窗口" });
  var panel = el("section", { id: "gb-panel", className: "gb-panel", "aria-labelledby": "gb-title" }, [
    el("header", { className: "gb-header" }, [title, el("div", { className: "gb-tools" }, [fontToggle, closeButton])]),
    connBar,
    statusBar,
    el("div", { className: "gb-scroll" }, [intro, log, typing]),
    form,
    hint
  ]);
  panel.hidden = true;
  container.appendChild(launcher);
  container.appendChild(panel);
  root.appendChild(stylesheet);
  root.appendChild(container);

  function scrollToEnd() {
    var scroller = panel.querySelector(".gb-scroll");
    scroller.scrollTop = scroller.scrollHeight;
  }

  function open(focusInput) {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.hidden = true;
    scrollToEnd();
    if (focusInput) input.focus();
  }

  function close() {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  function setLargeFont(on) {
    container.classList.toggle("gb-large", on);
    fontToggle.setAttribute("aria-pressed", on ? "true" : "false");
    store.set(KEY_LARGE, on ? "1" : "0");
    scrollToEnd();
  }

  launcher.addEventListener("click", function () { open(true); });
  closeButton.addEventListener("click", close);
  fontToggle.addEventListener("click", function () { setLargeFont(!container.classList.contains("gb-large")); });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { event.preventDefault(); close(); }
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { // not while an IME composes 汉字
      event.preventDefault();
      submit();
    }
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); submit(); });

  function submit() {
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text, text);
    input.focus();
  }

  // ---- connection and status bars -------------------------------------------------------------
  var connTimer = null;
  function showConn(text) {
    clearTimeout(connTimer);
    connBar.textContent = text;
    connBar.hidden = !text;
  }
  function wsLost() { // a short blip is not worth a banner
    clearTimeout(connTimer);
    connTimer = setTimeout(function () { showConn("连接已中断，正在重新连接…"); }, 2000);
  }

  var QUEUE_RE = /前面还有\s*(\d+)\s*人/;
  function setMode(next) {
    if (next) mode = next;
    if (mode === "queued") {
      var m = QUEUE_RE.exec(queueText);
      statusBar.textContent = m ? "正在为您转接人工，您前面还有 " + m[1] + " 人"
        : (/第一位/.test(queueText) ? "正在为您转接人工，您已排在第一位" : "正在为您转接人工，请稍候");
      statusBar.hidden = false;
      statusBar.className = "gb-status gb-status-queued";
    } else if (mode === "agent") {
      statusBar.textContent = "人工客服已接入，正在为您服务";
      statusBar.hidden = false;
      statusBar.className = "gb-status gb-status-agent";
    } else {
      statusBar.hidden = true;
      statusBar.textContent = "";
    }
  }

  var typingCount = 0;
  function setTyping(on) {
    typingCount = Math.max(0, typingCount + (on ? 1 : -1));
    typing.hidden = typingCount === 0;
    if (!typing.hidden) scrollToEnd();
  }

  // ---- messages ----------------------------------------------------------------------------------
  var SPEAKER = { citizen: "您", bot: "智能客服", system: "智能客服", agent: "人工客服" };

  function messageElement(author, text, buttons) {
    var who = SPEAKER[author] || "智能客服";
    var side = author === "citizen" ? "gb-from-citizen" : (author === "agent" ? "gb-from-agent" : "gb-from-bot");
    var node = el("div", { className: "gb-msg " + side }, [
      el("span", { className: author === "agent" ? "gb-name" : "gb-sr", text: who + "：" }),
      el("div", { className: "gb-bubble" }, [richText(text)])
    ]);
    if (buttons && buttons.length) {
      var group = el("div", { className: "gb-quick", role: "group", "aria-label": "快捷回复" });
      buttons.forEach(function (b) {
        if (!b || typeof b.title !== "string") return;
        var payload = typeof b.payload === "string" && b.payload ? b.payload : b.title;
        payloadTitles[payload] = b.title;
        var button = el("button", { type: "button", className: "gb-chip", text: b.title });
        button.addEventListener("click", function () { send(payload, b.title); });
        group.appendChild(button);
      });
      node.appendChild(group);
    }
    return node;
  }

  function insertBySeq(node, seq) {
    var kids = log.children;
    for (var i = 0; i < kids.length; i++) {
      var kid = kids[i];
      var kidSeq = kid.getAttribute("data-seq");
      if ((kidSeq !== null && Number(kidSeq) > seq) || kid.hasAttribute("data-pending")) {
        log.insertBefore(node, kid);
        return;
      }
    }
    log.appendChild(node);
  }

  function advance() {
    while (seen[synced + 1]) synced += 1;
  }

  function noteQueue(text) {
    if (QUEUE_RE.test(text) || /转接人工/.test(text)) queueText = text;
  }

  function pendingNode(clientId) {
    return log.querySelector('[data-cid="' + (window.CSS && CSS.escape ? CSS.escape(clientId) : clientId) + '"]');
  }

  function setMeta(node, text, kind) {
    var meta = node.querySelector(".gb-meta");
    if (!text) { if (meta) meta.remove(); return; }
    if (!meta) { meta = el("div", { className: "gb-meta" }); node.appendChild(meta); }
    meta.textContent = text;
    meta.className = "gb-meta" + (kind ? " gb-meta-" + kind : "");
  }

  function acknowledge(node, seq) {
    node.removeAttribute("data-pending");
    setMeta(node, "");
    if (seq) {
      node.setAttribute("data-seq", String(seq));
      seen[seq] = true;
      // an acknowledged message may now belong before later-arrived sequenced ones
      node.remove();
      insertBySeq(node, seq);
    }
  }

  /** Render one transcript entry {seq?, author, text, buttons, client_message_id?} once. */
  function renderMessage(m) {
    if (m.seq && seen[m.seq]) return null;
    if (m.author === "citizen" && m.client_message_id) {
      var mine = pendingNode(m.client_message_id);
      if (mine) { acknowledge(mine, m.seq); return null; }
    }
    var text = String(m.text || "");
    if (m.author === "citizen" && payloadTitles[text]) text = payloadTitles[text];
    if (m.author !== "citizen") noteQueue(text);
    var node = messageElement(m.author || "bot", text, m.buttons);
    if (m.seq) {
      node.setAttribute("data-seq", String(m.seq));
      seen[m.seq] = true;
      insertBySeq(node, m.seq);
    } else {
      log.appendChild(node);
    }
    scrollToEnd();
    return node;
  }

  /** Scroll so that ``node`` starts at the top if the new content is taller than the view, else to the end. */
  function revealFrom(node) {
    if (!node) return;
    var scroller = panel.querySelector(".gb-scroll");
    var top = scroller.scrollTop + node.getBoundingClientRect().top - scroller.getBoundingClientRect().top - 8;
    scroller.scrollTop = Math.min(top, scroller.scrollHeight);
  }

  function renderPending(item) {
    var node = messageElement("citizen", item.display || item.text, null);
    node.setAttribute("data-cid", item.id);
    node.setAttribute("data-pending", "1");
    setMeta(node, "发送中…", "sending");
    log.appendChild(node);
    scrollToEnd();
  }

  // ---- session ----------------------------------------------------------------------------------
  function adoptConversation(conversationId, token) {
    if (session && session.conversation_id !== conversationId) {
      // the old conversation was closed: keep its bubbles, restart numbering for the new one
      Array.prototype.forEach.call(log.querySelectorAll("[data-seq]"), function (n) {
        n.removeAttribute("data-seq");
      });
      seen = {};
      synced = 0;
      closeSocket();
    }
    session = { conversation_id: conversationId, push_token: token };
    store.setJSON(KEY_SESSION, session);
  }

  function dropSession() {
    session = null;
    store.remove(KEY_SESSION);
    closeSocket();
  }

  // ---- HTTP ----------------------------------------------------------------------------------------
  function request(path, options) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS) : null;
    var init = Object.assign({ cache: "no-store", credentials: "omit" }, options || {});
    if (controller) init.signal = controller.signal;
    return fetch(API + path, init).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (body) {
        return { status: res.status, ok: res.ok && body !== null, body: body };
      });
    }).finally(function () { clearTimeout(timer); });
  }

  function errorText(res) {
    var error = res.body && res.body.error;
    return (error && error.message_zh) || "发送失败，请稍后再试";
  }

  // ---- sending (outbox) -------------------------------------------------------------------------
  var flushing = false;
  var retryTimer = null;
  var retryDelay = 1000;

  function saveOutbox() { store.setJSON(KEY_OUTBOX, outbox); }

  function send(text, display) {
    text = String(text).trim();
    if (!text) return;
    if (text.length > MAX_CHARS) text = text.slice(0, MAX_CHARS);
    var item = { id: "c-" + randomId(), text: text, display: display || text };
    outbox.push(item);
    saveOutbox();
    renderPending(item);
    flush();
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    var delay = retryDelay * (0.75 + Math.random() * 0.5);
    retryDelay = Math.min(retryDelay * 2, 30000);
    retryTimer = setTimeout(flush, delay);
  }

  function markWaiting(item) {
    var node = pendingNode(item.id);
    if (node) setMeta(node, navigator.onLine === false ? "网络已断开，恢复后自动发送" : "发送未成功，正在重试…", "waiting");
  }

  function flush() {
    if (flushing || !outbox.length) return;
    flushing = true;
    clearTimeout(retryTimer);
    var item = outbox[0];
    setTyping(true);
    request("api/v1/web/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user_id: userId, text: item.text, client_message_id: item.id })
    }).then(function (res) {
      if (!res.ok && (res.status >= 500 || res.status === 429 || res.status === 408 || res.status === 200)) {
        throw new Error("retryable " + res.status);
      }
      outbox.shift();
      saveOutbox();
      retryDelay = 1000;
      if (res.ok) {
        handleReply(item, res.body);
      } else {
        var node = pendingNode(item.id);
        if (node) { node.removeAttribute("data-pending"); setMeta(node, errorText(res), "failed"); }
      }
    }).catch(function () {
      markWaiting(item);
      scheduleRetry();
      return "retry";
    }).then(function (outcome) {
      flushing = false;
      setTyping(false);
      if (outcome !== "retry") flush();
    });
  }

  function handleReply(item, body) {
    adoptConversation(body.conversation_id, body.push_token);
    var node = pendingNode(item.id);
    if (node) acknowledge(node, body.message_seq);
    var seqs = body.reply_seqs || [];
    var first = null;
    (body.replies || []).forEach(function (reply, i) {
      var rendered = renderMessage({ seq: seqs[i], author: "bot", text: reply.text, buttons: reply.buttons });
      first = first || rendered;
    });
    // a long answer (all materials at once) is read from its start: keep the question in view
    revealFrom(node || first);
    setMode(body.mode);
    advance();
    showConn(navigator.onLine === false ? "网络已断开" : "");
    if (!socket) connectSocket();
    // a gap (an agent message while we were away): fetch it. No reply in bot mode means a retry
    // overtook its own first attempt, whose replies are not stored yet: look again shortly.
    if (body.message_seq && body.message_seq > synced + 1) syncHistory();
    if (body.mode === "bot" && !(body.replies || []).length) setTimeout(syncHistory, 3000);
  }

  // ---- history -----------------------------------------------------------------------------------
  var syncing = false;
  var syncAgain = false;

  function syncHistory() {
    if (!session) return;
    if (syncing) { syncAgain = true; return; }
    syncing = true;
    var conversation = session.conversation_id;
    var path = "api/v1/web/history?conversation_id=" + encodeURIComponent(conversation) +
      "&token=" + encodeURIComponent(session.push_token) + "&after=" + synced + "&limit=200";
    request(path).then(function (res) {
      if (res.status === 403 || res.status === 404) { dropSession(); return; }
      if (!res.ok || !session || session.conversation_id !== conversation) return;
      res.body.messages.forEach(renderMessage);
      if (res.body.messages.length) synced = Math.max(synced, res.body.messages[res.body.messages.length - 1].seq);
      advance();
      setMode(res.body.mode);
      if (res.body.has_more) syncAgain = true;
    }).catch(function () { /* offline: the next reconnect syncs again */ }).then(function () {
      syncing = false;
      if (syncAgain) { syncAgain = false; syncHistory(); }
    });
  }

  // ---- WebSocket push ------------------------------------------------------------------------------
  var socket = null;
  var socketRetry = 1000;
  var socketTimer = null;
  var lastFrame = 0;

  function closeSocket() {
    clearTimeout(socketTimer);
    if (socket) { var s = socket; socket = null; s.close(); }
  }

  function scheduleSocket() {
    clearTimeout(socketTimer);
    var delay = socketRetry * (0.75 + Math.random() * 0.5);
    socketRetry = Math.min(socketRetry * 2, 30000);
    socketTimer = setTimeout(connectSocket, delay);
  }

  function connectSocket() {
    if (!session || socket) return;
    var url = API.replace(/^http/, "ws") + "api/v1/web/ws?conversation_id=" +
      encodeURIComponent(session.conversation_id) + "&token=" + encodeURIComponent(session.push_token) +
      "&after=" + synced;
    var ws;
    try { ws = new WebSocket(url); } catch (e) { scheduleSocket(); return; }
    socket = ws;
    ws.onopen = function () {
      socketRetry = 1000;
      lastFrame = Date.now();
      showConn(navigator.onLine === false ? "网络已断开" : "");
    };
    ws.onmessage = function (event) {
      lastFrame = Date.now();
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      onPush(data);
    };
    ws.onclose = function (event) {
      if (socket !== ws) return; // closed on purpose
      socket = null;
      if (event.code === 1008 || event.code === 4404) { dropSession(); return; } // token or conversation gone
      wsLost();
      scheduleSocket();
    };
  }

  function onPush(data) {
    if (!data || !session) return;
    if (data.conversation_id && data.conversation_id !== session.conversation_id) return;
    if (data.type === "hello") {
      setMode(data.mode);
      if (data.last_seq > synced) syncHistory();
    } else if (data.type === "messages") {
      var firstNew = null;
      (data.messages || []).forEach(function (m) {
        var rendered = renderMessage(m);
        firstNew = firstNew || rendered;
      });
      revealFrom(firstNew);
      advance();
      setMode(data.mode);
    } else if (data.type === "replies") { // unsequenced push (not stored): show as is
      (data.replies || []).forEach(function (r) { renderMessage({ author: r.author || "agent", text: r.text, buttons: r.buttons }); });
    } else if (data.type === "mode") {
      setMode(data.mode);
    }
  }

  // a silently dead connection (no close frame) is noticed by missing heartbeats
  setInterval(function () {
    if (socket && socket.readyState === 1 && Date.now() - lastFrame > HEARTBEAT_TIMEOUT_MS) {
      var s = socket;
      socket = null;
      s.close();
      wsLost();
      connectSocket();
    }
  }, 10000);

  window.addEventListener("offline", function () {
    showConn("网络已断开，您的消息将在恢复后自动发送");
    outbox.forEach(markWaiting);
  });
  window.addEventListener("online", function () {
    showConn("");
    retryDelay = 1000;
    flush();
    socketRetry = 1000;
    if (!socket) connectSocket(); else syncHistory();
  });

  // ---- start -----------------------------------------------------------------------------------------
  function start() {
    document.body.appendChild(host);
    setLargeFont(store.get(KEY_LARGE) === "1");
    outbox.forEach(renderPending); // sent before a reload but never acknowledged
    if (session) { syncHistory(); connectSocket(); }
    flush();
    if (START_OPEN) open(false);
  }

  window.GovbotWidget = {
    open: function () { open(true); },
    close: close,
    send: function (text) { send(text, text); },
    userId: userId
  };

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();

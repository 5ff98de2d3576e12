// Browser client for the wasmhub chat hub. Plain JS, no build step: uses the
// global `signalR` from signalr.min.js (and signalR.protocols.msgpack from
// signalr-protocol-msgpack.min.js) served next to this file. `?protocol=messagepack`
// selects the MessagePack hub protocol; `?name=` fills in the name.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  const ui = {
    connectForm: $("connect-form"),
    name: $("name"),
    connect: $("connect"),
    disconnect: $("disconnect"),
    status: $("status"),
    roomForm: $("room-form"),
    room: $("room"),
    leave: $("leave"),
    roomList: $("room-list"),
    messages: $("messages"),
    sendForm: $("send-form"),
    currentRoom: $("current-room"),
    text: $("text"),
    whisperForm: $("whisper-form"),
    whisperUser: $("whisper-user"),
    whisperText: $("whisper-text"),
    who: $("who"),
    online: $("online"),
    whoResult: $("who-result"),
    questions: $("questions"),
    noQuestions: $("no-questions"),
    askForm: $("ask-form"),
    askUser: $("ask-user"),
    askQuestion: $("ask-question"),
    askResult: $("ask-result"),
    pollForm: $("poll-form"),
    pollRoom: $("poll-room"),
    pollQuestion: $("poll-question"),
    pollResult: $("poll-result"),
  };

  const params = new URLSearchParams(location.search);
  const messagePack = params.get("protocol") === "messagepack";
  let connection = null;
  let me = null;
  let current = null; // current room
  const joined = [];
  const questionClosers = new Set(); // rejecters of unanswered questions

  // ---- helpers -------------------------------------------------------------

  /** The hub error without the generic .NET-style prefix. */
  function errorText(e) {
    const s = String((e && e.message) || e);
    return s.replace(/^An unexpected error occurred invoking '[^']*' on the server\. /, "");
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function addLine(parts, className) {
    const li = el("li", className);
    for (const p of parts) li.append(typeof p === "string" ? document.createTextNode(p) : p);
    const atBottom = ui.messages.scrollTop + ui.messages.clientHeight >= ui.messages.scrollHeight - 4;
    ui.messages.append(li);
    if (atBottom) ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  const system = (text) => addLine([text], "system");
  const problem = (text) => addLine([text], "error");

  function setStatus(text, kind) {
    ui.status.textContent = text;
    ui.status.className = "status " + kind;
  }

  function setConnected(on) {
    for (const node of document.querySelectorAll("[data-needs-connection], aside input, #room, #text")) {
      node.disabled = !on;
    }
    ui.connect.disabled = on;
    ui.name.disabled = on;
    ui.disconnect.disabled = !on;
  }

  function renderRooms() {
    ui.roomList.replaceChildren(
      ...joined.map((room) => {
        const chip = el("button", "chip" + (room === current ? " current" : ""), room);
        chip.type = "button";
        chip.title = "make " + room + " the current room";
        chip.addEventListener("click", () => {
          current = room;
          renderRooms();
        });
        return chip;
      }),
    );
    ui.currentRoom.textContent = current ? "to " + current : "no room";
    ui.text.placeholder = current ? "message to " + current : "join a room first";
  }

  /** Runs an async UI action, reporting its error in the message list. */
  function guarded(fn) {
    return async (event) => {
      if (event) event.preventDefault();
      try {
        await fn(event);
      } catch (e) {
        problem(errorText(e));
      }
    };
  }

  // ---- incoming ------------------------------------------------------------

  function onMessage(m) {
    if (m.room === null || m.room === undefined) {
      const to = m.from === me ? " (whisper to you, from yourself)" : " (whisper)";
      addLine([el("span", "from", m.from + to + ":"), m.text], "whisper");
    } else {
      addLine([el("span", "room", "[" + m.room + "]"), el("span", "from", m.from + ":"), m.text]);
    }
  }

  /** History(room, messages): what the room said before we joined. */
  function onHistory(room, messages) {
    addLine([el("span", "room", "[" + room + "]"), "earlier: " + messages.length + " message(s)"], "whisper");
    for (const m of messages) onMessage(m);
  }

  /** Question(q): shows an inline answer box; resolves with the typed answer. */
  function onQuestion(question) {
    return new Promise((resolve, reject) => {
      const li = el("li");
      li.append(el("p", "q", "\u201c" + question + "\u201d"));
      const form = el("form");
      const input = el("input");
      input.placeholder = "your answer";
      input.required = true;
      const answer = el("button", null, "Answer");
      answer.type = "submit";
      const decline = el("button", null, "Decline");
      decline.type = "button";
      const buttons = el("div", "buttons");
      buttons.append(answer, decline);
      form.append(input, buttons);
      li.append(form);

      function done() {
        li.remove();
        ui.noQuestions.hidden = ui.questions.children.length > 0;
        questionClosers.delete(close);
      }
      function close() {
        done();
        reject(new Error("disconnected before answering"));
      }
      questionClosers.add(close);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        done();
        system("you answered \u201c" + question + "\u201d: " + input.value);
        resolve(input.value);
      });
      decline.addEventListener("click", () => {
        done();
        reject(new Error("declined to answer"));
      });

      ui.questions.append(li);
      ui.noQuestions.hidden = true;
      input.focus();
    });
  }

  // ---- connection ----------------------------------------------------------

  ui.connectForm.addEventListener(
    "submit",
    guarded(async () => {
      const name = ui.name.value.trim();
      if (!name) return;
      setStatus("connecting\u2026", "offline");
      ui.connect.disabled = true;
      const builder = new signalR.HubConnectionBuilder()
        .withUrl("/hubs/chat?name=" + encodeURIComponent(name))
        .configureLogging(signalR.LogLevel.Warning);
      if (messagePack) builder.withHubProtocol(new signalR.protocols.msgpack.MessagePackHubProtocol());
      const conn = builder.build();
      conn.on("Message", onMessage);
      conn.on("History", onHistory);
      conn.on("Question", onQuestion);
      conn.onclose((error) => {
        if (connection !== conn) return;
        connection = null;
        for (const close of [...questionClosers]) close();
        setConnected(false);
        joined.length = 0;
        current = null;
        renderRooms();
        if (error) {
          setStatus("disconnected", "error");
          problem("disconnected: " + errorText(error));
        } else {
          setStatus("offline", "offline");
          system("disconnected");
        }
      });
      try {
        await conn.start();
      } catch (e) {
        ui.connect.disabled = false;
        setStatus("offline", "error");
        throw e;
      }
      connection = conn;
      me = name;
      setConnected(true);
      setStatus("online as " + name + (messagePack ? " (MessagePack)" : ""), "online");
      system("connected as " + name);
      ui.room.focus();
    }),
  );

  ui.disconnect.addEventListener(
    "click",
    guarded(async () => {
      if (connection) await connection.stop();
    }),
  );

  // ---- rooms and messages --------------------------------------------------

  ui.roomForm.addEventListener(
    "submit",
    guarded(async () => {
      const room = ui.room.value.trim();
      if (!room) return;
      await connection.invoke("Join", room);
      if (!joined.includes(room)) joined.push(room);
      current = room;
      ui.room.value = "";
      renderRooms();
      system("joined " + room);
      ui.text.focus();
    }),
  );

  ui.leave.addEventListener(
    "click",
    guarded(async () => {
      const room = ui.room.value.trim() || current;
      if (!room) throw new Error("no room to leave");
      await connection.invoke("Leave", room);
      const i = joined.indexOf(room);
      if (i >= 0) joined.splice(i, 1);
      if (current === room) current = joined.length ? joined[joined.length - 1] : null;
      ui.room.value = "";
      renderRooms();
      system("left " + room);
    }),
  );

  ui.sendForm.addEventListener(
    "submit",
    guarded(async () => {
      const text = ui.text.value;
      if (!text.trim()) return;
      if (!current) throw new Error("join a room first");
      // Cleared now, so that what is typed while the send is in flight stays;
      // put back only if the send fails and nothing new was typed.
      ui.text.value = "";
      try {
        await connection.invoke("Send", current, text);
      } catch (e) {
        if (ui.text.value === "") ui.text.value = text;
        throw e;
      }
    }),
  );

  ui.whisperForm.addEventListener(
    "submit",
    guarded(async () => {
      const user = ui.whisperUser.value.trim();
      const text = ui.whisperText.value;
      await connection.invoke("Whisper", user, text);
      addLine([el("span", "from", "you \u2192 " + user + ":"), text], "whisper");
      ui.whisperText.value = "";
    }),
  );

  // ---- who / online --------------------------------------------------------

  function showUsers(label, users) {
    ui.whoResult.className = "result";
    ui.whoResult.textContent = label + ": " + (users.length ? users.join(", ") : "nobody");
  }

  ui.who.addEventListener(
    "click",
    guarded(async () => {
      const room = current;
      if (!room) throw new Error("join a room first");
      showUsers("in " + room, await connection.invoke("Who", room));
    }),
  );

  ui.online.addEventListener(
    "click",
    guarded(async () => {
      showUsers("online", await connection.invoke("Online"));
    }),
  );

  // ---- ask / poll ----------------------------------------------------------

  ui.askForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const user = ui.askUser.value.trim();
    const question = ui.askQuestion.value;
    ui.askResult.className = "result";
    ui.askResult.textContent = "asking " + user + "\u2026";
    try {
      const answer = await connection.invoke("Ask", user, question);
      ui.askResult.textContent = user + " answered: " + (typeof answer === "string" ? answer : JSON.stringify(answer));
    } catch (e) {
      ui.askResult.className = "result error";
      ui.askResult.textContent = errorText(e);
    }
  });

  ui.pollForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const room = ui.pollRoom.value.trim() || current;
    const question = ui.pollQuestion.value;
    ui.pollResult.className = "result";
    if (!room) {
      ui.pollResult.className = "result error";
      ui.pollResult.textContent = "name a room or join one";
      return;
    }
    ui.pollResult.textContent = "polling " + room + "\u2026";
    try {
      const results = await connection.invoke("Poll", room, question);
      const table = el("table");
      const head = el("tr");
      head.append(el("th", null, "who"), el("th", null, "answer"));
      table.append(head);
      for (const r of results) {
        const tr = el("tr");
        const failed = !("answer" in r);
        tr.append(
          el("td", null, r.user || r.connectionId),
          el("td", failed ? "failed" : null, failed ? "no answer (" + r.error + ")" : String(r.answer)),
        );
        table.append(tr);
      }
      ui.pollResult.replaceChildren(
        el("p", "hint", room + ": " + results.length + " connection(s) asked"),
        table,
      );
    } catch (e) {
      ui.pollResult.className = "result error";
      ui.pollResult.textContent = errorText(e);
    }
  });

  // ---- start ---------------------------------------------------------------

  setConnected(false);
  renderRooms();
  const fromQuery = params.get("name");
  if (fromQuery) ui.name.value = fromQuery;
  ui.name.focus();
})();

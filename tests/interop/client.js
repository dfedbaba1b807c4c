#!/usr/bin/env node
// One real, unmodified pusher-js client, driven by tests/interop/test_pusher_js.py.
//
// Commands arrive on stdin, one JSON object per line: {"id": 1, "cmd": "subscribe", ...}.
// Every command is answered with {"type": "reply", "id": 1, "ok": true, "result": ...} (or
// "ok": false with "error"). Everything pusher-js surfaces is reported on stdout, one JSON object
// per line, as it happens:
//   {"type": "state", "previous": "connecting", "current": "connected"}
//   {"type": "connected", "socket_id": "123.456"}
//   {"type": "received", "event": "pusher:pong", "channel": null}      (every frame received)
//   {"type": "event", "channel": "news", "event": "breaking", "data": {...}}   (bind_global)
//   {"type": "bound", "channel": ..., "event": ..., "data": ..., "metadata": ...}  (bind)
//   {"type": "app", "event": ..., "data": ...}      (pusher.bind: events without a channel)
//   {"type": "user", "event": ..., "data": ...}     (pusher.user.bind: sent to the signed-in user)
//   {"type": "closed", "code": 4009}                (the websocket closed, with its code)
// pusher-js's own log goes to stderr, so stdout carries nothing but these reports.
//
// Commands: connect {key, options}, subscribe {channel}, unsubscribe {channel},
// bind {channel, event}, trigger {channel, event, data}, members {channel}, disconnect,
// signin (pusher.signin(), with options.userAuthentication), bind_user {event},
// bind_app {event}, load_resume {url} (fetches the hub's /hub-resume.js, as a page's <script>
// would); connect {..., resume: true} then attaches it to the new Pusher.
// Closing stdin ends the process at once, sockets and all, like closing a browser tab.

'use strict';

const { describe, report, serve } = require('./driver');
// Resolved next to this file (tests/interop/node_modules), whatever the working directory.
const Pusher = require('pusher-js');

Pusher.log = (message) => process.stderr.write(`[pusher-js] ${message}\n`);

let pusher = null;
let HubResume = null; // the hub's served helper, once load_resume fetched it

// What a presence channel hands to pusher:subscription_succeeded is its Members object.
function membersOf(members) {
  return { count: members.count, me: members.me, members: members.members };
}

function reportable(channel, event, data) {
  if (event === 'pusher:subscription_succeeded' && channel.members === data) {
    return membersOf(data);
  }
  return data === undefined ? null : data;
}

function needPusher() {
  if (pusher === null) throw new Error('not connected: send "connect" first');
  return pusher;
}

function needChannel(name) {
  const channel = needPusher().channel(name);
  if (!channel) throw new Error(`not subscribed to ${name}`);
  return channel;
}

const commands = {
  async load_resume({ url }) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    const module = { exports: {} };
    new Function('module', 'exports', await response.text())(module, module.exports);
    HubResume = module.exports;
    return null;
  },
  connect({ key, options, resume }) {
    if (pusher !== null) throw new Error('already connected');
    pusher = new Pusher(key, options);
    if (resume) {
      if (HubResume === null) throw new Error('send "load_resume" first');
      HubResume.attach(pusher);
    }
    pusher.connection.bind('state_change', ({ previous, current }) =>
      report({ type: 'state', previous, current }),
    );
    pusher.connection.bind('connected', () =>
      report({ type: 'connected', socket_id: pusher.connection.socket_id }),
    );
    // Every frame the connection hands up, pusher:pong included (channels never see those).
    pusher.connection.bind('message', ({ event, channel }) =>
      report({ type: 'received', event, channel: channel === undefined ? null : channel }),
    );
    pusher.connection.bind('error', (error) =>
      report({ type: 'connection_error', error: describe(error) }),
    );
    // Every reconnect brings a new transport: report how each one's websocket closed.
    pusher.connection.bind('connected', () => {
      const transport = pusher.connection.connection.transport;
      transport.bind('closed', (event) => report({ type: 'closed', code: event.code }));
    });
    return null;
  },
  signin() {
    needPusher().signin();
    return null;
  },
  bind_user({ event }) {
    needPusher().user.bind(event, (data) =>
      report({ type: 'user', event, data: data === undefined ? null : data }),
    );
    return null;
  },
  bind_app({ event }) {
    needPusher().bind(event, (data) =>
      report({ type: 'app', event, data: data === undefined ? null : data }),
    );
    return null;
  },
  subscribe({ channel: name }) {
    const channel = needPusher().subscribe(name);
    channel.bind_global((event, data) =>
      report({ type: 'event', channel: name, event, data: reportable(channel, event, data) }),
    );
    return null;
  },
  unsubscribe({ channel }) {
    needPusher().unsubscribe(channel);
    return null;
  },
  bind({ channel: name, event }) {
    const channel = needChannel(name);
    channel.bind(event, (data, metadata) =>
      report({
        type: 'bound',
        channel: name,
        event,
        data: reportable(channel, event, data),
        metadata: metadata === undefined ? null : metadata,
      }),
    );
    return null;
  },
  trigger({ channel, event, data }) {
    return needChannel(channel).trigger(event, data);
  },
  members({ channel }) {
    return membersOf(needChannel(channel).members);
  },
  disconnect() {
    needPusher().disconnect();
    return null;
  },
};

serve(commands);

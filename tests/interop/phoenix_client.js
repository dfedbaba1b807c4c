#!/usr/bin/env node
// One real, unmodified phoenix.js client (the `phoenix` npm package, on the `ws` package as its
// transport: Node 20 has no global WebSocket), driven by tests/interop/test_phoenix_js.py.
//
// It speaks driver.js's line protocol (commands on stdin, replies and reports on stdout). What
// phoenix.js surfaces is reported on stdout, one JSON object per line:
//   {"type": "open"}                                  (socket.onOpen)
//   {"type": "close", "code": 4009}                   (socket.onClose)
//   {"type": "socket_error"}                          (socket.onError: e.g. a refused upgrade)
//   {"type": "join", "topic": ..., "status": "ok" | "error" | "timeout", "response": ...}
//   {"type": "push", "tag": ..., "status": ..., "response": ...}   (the reply to a push)
//   {"type": "message", "topic": ..., "event": ..., "payload": ...} (whatever reaches a channel)
//   {"type": "presence", "topic": ..., "members": {"u1": [meta, ...]}} (Presence.onSync)
//
// Commands: connect {url, params, authToken}, join {topic, payload, presence, resume}, push
// {topic, event, payload, tag}, leave {topic}, disconnect. With `resume`, the join's params are a
// function (phoenix.js evaluates it on every rejoin) that passes the last position seen,
// `{since: {seq, epoch}}`, as an application resuming from the hub's history does.

'use strict';

const { report, serve } = require('./driver');
// Resolved next to this file (tests/interop/node_modules), whatever the working directory.
const { Socket, Presence } = require('phoenix');
const WebSocket = require('ws');

let socket = null;
const channels = new Map();

function needSocket() {
  if (socket === null) throw new Error('not connected: send "connect" first');
  return socket;
}

function needChannel(topic) {
  const channel = channels.get(topic);
  if (!channel) throw new Error(`not joined to ${topic}`);
  return channel;
}

const commands = {
  connect({ url, params, authToken }) {
    if (socket !== null) throw new Error('already connected');
    const options = { transport: WebSocket, params: params || {} };
    if (authToken) options.authToken = authToken;
    socket = new Socket(url, options);
    socket.onOpen(() => report({ type: 'open' }));
    socket.onClose((event) => report({ type: 'close', code: event.code }));
    socket.onError(() => report({ type: 'socket_error' }));
    socket.connect();
    return null;
  },
  join({ topic, payload, presence, resume }) {
    let last = null;
    const params = resume ? () => (last ? { ...payload, since: last } : payload || {}) : payload;
    const channel = needSocket().channel(topic, params || {});
    channels.set(topic, channel);
    channel.onMessage = (event, message) => {
      if (message && typeof message.seq === 'number' && typeof message.epoch === 'string') {
        last = { seq: message.seq, epoch: message.epoch };
      }
      // Replies are the join's and pushes' business, reported below.
      if (!event.startsWith('phx_') && !event.startsWith('chan_reply_')) {
        report({ type: 'message', topic, event, payload: message });
      }
      return message;
    };
    if (presence) {
      const tracker = new Presence(channel);
      tracker.onSync(() => {
        const members = {};
        tracker.list((id, { metas }) => {
          members[id] = metas;
        });
        report({ type: 'presence', topic, members });
      });
    }
    const joined = (status) => (response) => report({ type: 'join', topic, status, response });
    channel
      .join()
      .receive('ok', joined('ok'))
      .receive('error', joined('error'))
      .receive('timeout', joined('timeout'));
    return null;
  },
  push({ topic, event, payload, tag }) {
    const answered = (status) => (response) => report({ type: 'push', tag, status, response });
    needChannel(topic)
      .push(event, payload || {})
      .receive('ok', answered('ok'))
      .receive('error', answered('error'))
      .receive('timeout', answered('timeout'));
    return null;
  },
  leave({ topic }) {
    needChannel(topic).leave();
    channels.delete(topic);
    return null;
  },
  disconnect() {
    needSocket().disconnect();
    return null;
  },
};

serve(commands);

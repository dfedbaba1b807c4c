#!/usr/bin/env node
// One real, unmodified Laravel Echo (on real pusher-js), driven by
// tests/interop/test_laravel_echo.py. It speaks driver.js's line protocol:
//
// Commands arrive on stdin, one JSON object per line: {"id": 1, "cmd": "on", ...}, and each is
// answered with {"type": "reply", "id": 1, "ok": true, "result": ...} (or "ok": false, "error").
// Everything Echo hands to the application is reported on stdout, one JSON object per line:
//   {"type": "connected", "socket_id": "123.456"}                  (Echo.socketId() on connect)
//   {"type": "listen", "channel": "private-orders", "event": ".order.created",
//    "data": {...}, "metadata": {...}}                              (an Echo callback fired)
//   {"type": "here", "channel": "presence-room", "event": null, "data": [users], ...}
//   {"type": "event", "channel": "orders", "event": "order.created", "data": {...}}
//      (the raw stream of the pusher-js channel under every Echo channel, via bind_global)
// The "type" of a callback report is the Echo method it was registered with: listen,
// listenForWhisper, here, joining, leaving, error, subscribed, notification.
//
// Commands:
//   connect {key, options}        new Echo({key, ...options, Pusher})
//   on {via, name, calls: [{method, event}, ...]}
//                                 Echo[via](name)[method](event?, callback) for each call, in
//                                 one go, like an app chaining .subscribed(...).listen(...)
//                                 (so nothing the subscription answers can come in between);
//                                 via is one of channel, private, join, encryptedPrivate
//   whisper {via, name, event, data}   Echo[via](name).whisper(event, data)
//   leave {name}                  Echo.leave(name)
//   socket_id                     Echo.socketId()
//   post {url, data}              an application request through the axios stand-in below,
//                                 so it carries the X-Socket-Id header Echo's interceptor adds;
//                                 returns the response status
//   disconnect                    Echo.disconnect()
// Closing stdin ends the process at once, sockets and all, like closing a browser tab.

'use strict';

const { describe, report, serve } = require('./driver');
// Both resolved next to this file (tests/interop/node_modules), whatever the working directory.
const Pusher = require('pusher-js');
// laravel-echo 2.5.0's "require" build (dist/echo.common.js) does not load in Node: the package
// is "type": "module", so Node reads that CommonJS file as ESM ("exports is not defined"; known
// upstream since 2.0.2: https://github.com/laravel/echo/issues/423).
// Its ESM build is what bundlers (Vite) use in Laravel apps; it is imported below, before any
// command is read.
let Echo = null;

Pusher.log = (message) => process.stderr.write(`[pusher-js] ${message}\n`);

// Echo's constructor registers a request interceptor on the global `axios` (if it is a function)
// that adds X-Socket-Id to every application request: Laravel's toOthers() relies on it. axios
// itself is not installed; this stand-in has just the surface Echo uses (interceptors.request.use)
// and sends with fetch, so Echo's real interceptor decides the headers.
const interceptors = [];
function axios() {
  throw new Error('only axios.post is available in this stand-in');
}
axios.interceptors = { request: { use: (interceptor) => interceptors.push(interceptor) } };
axios.post = async (url, data) => {
  let config = { method: 'post', url, data, headers: { 'Content-Type': 'application/json' } };
  for (const interceptor of interceptors) config = interceptor(config);
  const response = await fetch(url, {
    method: 'POST',
    headers: config.headers,
    body: JSON.stringify(config.data),
  });
  return { status: response.status };
};
globalThis.axios = axios;

let echo = null;
const watched = new WeakSet(); // pusher-js channels whose raw stream is reported

function reportable(value) {
  return value === undefined ? null : value;
}

// What a presence channel hands to pusher:subscription_succeeded is its Members object.
function reportableRaw(subscription, event, data) {
  if (event === 'pusher:subscription_succeeded' && subscription.members === data) {
    return { count: data.count, me: data.me, members: data.members };
  }
  return reportable(data);
}

function needEcho() {
  if (echo === null) throw new Error('not connected: send "connect" first');
  return echo;
}

const VIA = new Set(['channel', 'private', 'join', 'encryptedPrivate']);

// The Echo channel object, as the application gets it; its raw pusher-js stream is reported once.
function echoChannel(via, name) {
  if (!VIA.has(via)) throw new Error(`unknown Echo channel method ${via}`);
  const channel = needEcho()[via](name);
  if (!watched.has(channel.subscription)) {
    watched.add(channel.subscription);
    channel.subscription.bind_global((event, data) =>
      report({
        type: 'event',
        channel: channel.name,
        event,
        data: reportableRaw(channel.subscription, event, data),
      }),
    );
  }
  return channel;
}

const commands = {
  connect({ key, options }) {
    if (echo !== null) throw new Error('already connected');
    echo = new Echo({ key, ...options, Pusher });
    const connection = echo.connector.pusher.connection;
    connection.bind('connected', () => report({ type: 'connected', socket_id: echo.socketId() }));
    connection.bind('error', (error) => report({ type: 'connection_error', error: describe(error) }));
    return null;
  },
  on({ via, name, calls }) {
    const channel = echoChannel(via, name);
    for (const { method, event } of calls) {
      if (typeof channel[method] !== 'function') throw new Error(`no Echo method ${method}`);
    }
    for (const { method, event } of calls) {
      const callback = (data, metadata) =>
        report({
          type: method,
          channel: channel.name,
          event: event === undefined ? null : event,
          data: reportable(data),
          metadata: metadata === undefined ? null : metadata,
        });
      if (event === undefined) channel[method](callback);
      else channel[method](event, callback);
    }
    return null;
  },
  whisper({ via, name, event, data }) {
    echoChannel(via, name).whisper(event, data);
    return null;
  },
  leave({ name }) {
    needEcho().leave(name);
    return null;
  },
  socket_id() {
    const id = needEcho().socketId();
    return id === undefined ? null : id;
  },
  async post({ url, data }) {
    return (await axios.post(url, data)).status;
  },
  disconnect() {
    needEcho().disconnect();
    return null;
  },
};

import('laravel-echo').then(
  (module) => {
    Echo = module.default;
    serve(commands);
  },
  (error) => {
    process.stderr.write(`cannot load laravel-echo: ${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);

// hub-resume.js: makes an unmodified pusher-js (7 or 8) resume its channels after a reconnect,
// with no gap and no duplicate, from the hub's kept history. Served by the hub at /hub-resume.js.
//
//   <script src="https://HUB/hub-resume.js"></script>       (or: const HubResume = require(...))
//   const pusher = new Pusher(key, options);
//   const resume = HubResume.attach(pusher);
//
// The hub puts each channel event's position in the frame (`seq`, `epoch`: top-level fields
// pusher-js does not pass on), so the helper reads the frames as they arrive and remembers the
// last position of every channel. pusher-js subscribes again after every reconnect; the helper
// adds `since` to that subscribe, and the hub replays what was missed before live events (or
// sends `hub:history_gap` when it no longer keeps that far back). `resume.positions` shows what
// it holds; unsubscribing a channel forgets it.
(function (root, factory) {
  if (typeof module === 'object' && module.exports) {
    module.exports = factory();
  } else {
    root.HubResume = factory();
  }
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  function attach(pusher) {
    var positions = {};
    var send = pusher.send_event.bind(pusher);

    pusher.send_event = function (name, data, channel) {
      if (name === 'pusher:subscribe' && data && positions[data.channel]) {
        data = Object.assign({}, data, { since: positions[data.channel] });
      } else if (name === 'pusher:unsubscribe' && data) {
        delete positions[data.channel];
      }
      return send(name, data, channel);
    };

    function remember(messageEvent) {
      var frame;
      try {
        frame = JSON.parse(messageEvent.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame.channel === 'string' && typeof frame.seq === 'number' &&
          typeof frame.epoch === 'string') {
        positions[frame.channel] = { seq: frame.seq, epoch: frame.epoch };
      }
    }

    // Each connection brings a new transport: listen to the raw messages of every one.
    pusher.connection.bind('connected', function () {
      var connection = pusher.connection.connection;
      if (connection && connection.transport) {
        connection.transport.bind('message', remember);
      }
    });

    return { positions: positions };
  }

  return { attach: attach };
});

// The line protocol every interop driver speaks (client.js, echo_client.js, phoenix_client.js),
// written once: commands arrive on stdin, one JSON object per line, {"id": 1, "cmd": ...}; each
// is answered with {"type": "reply", "id": 1, "ok": true, "result": ...} (or "ok": false with
// "error"), after the command's promise settles if it returns one. `report` writes one JSON
// object per line to stdout. Closing stdin ends the process at once, like closing a browser tab.

'use strict';

const readline = require('readline');

function report(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
}

// Errors can wrap socket objects (circular); keep what is printable.
function describe(error) {
  try {
    return JSON.parse(JSON.stringify(error));
  } catch (_) {
    return String(error);
  }
}

async function handle(commands, line) {
  if (!line.trim()) return;
  let id = null;
  try {
    const message = JSON.parse(line);
    id = message.id;
    const command = commands[message.cmd];
    if (!command) throw new Error(`unknown command ${message.cmd}`);
    const result = await command(message);
    report({ type: 'reply', id, ok: true, result: result === undefined ? null : result });
  } catch (error) {
    report({ type: 'reply', id, ok: false, error: String(error && error.stack ? error.stack : error) });
  }
}

// Answers commands from stdin until it closes.
function serve(commands) {
  readline.createInterface({ input: process.stdin }).on('line', (line) => handle(commands, line));
  process.stdin.on('end', () => process.exit(0));
}

module.exports = { describe, report, serve };

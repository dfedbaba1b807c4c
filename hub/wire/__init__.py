"""The wire: bytes and sockets. The front door reads every connection's request head, answers
websocket handshakes itself and gives every other request to Tornado; the websocket, its frames
and its outgoing buffer; the SSE stream's handler; the access log."""

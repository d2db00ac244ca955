"""The web pages people use: server-rendered (Jinja2), working without JavaScript, served
with a strict Content-Security-Policy, and talking to no other host than this node."""

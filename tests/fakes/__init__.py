"""Protocol-level fakes of the services chocohub talks to: real clients reach them over
real sockets on 127.0.0.1, and they can inject the faults real services produce."""

"""Auth's decisions as pure logic over plain data: no I/O, no framework, no clock of its own."""

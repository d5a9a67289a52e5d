"""The shop's vocabulary and rules, free of I/O: customers, boxes, events."""

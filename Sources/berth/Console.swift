import LinuxSystem

/// Prints a line for the user on standard output, unbuffered, so it reaches a pipe at once
/// (tests and scripts wait for "listening on").
func say(_ text: String) {
    Descriptors.writeAll(1, text + "\n")
}

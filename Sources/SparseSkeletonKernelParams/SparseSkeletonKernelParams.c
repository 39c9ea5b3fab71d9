// Header-only target: the kernel parameter structs live in include/ (SwiftPM needs one source file).

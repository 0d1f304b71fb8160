"""What the supervisor checks around an exec: which files it runs (`chain`: `#!` interpreters
and the ELF loader), whether its names still lead to the decided files (`names`), who else could
change the path before the kernel reads it (`race`), and whether the exec happened before its
labels apply (`confirm`)."""

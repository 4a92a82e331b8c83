"""What every app shares and no app owns: errors that say their own HTTP status, the API's
exception handler and common fields, roles' permission class, env helpers, the largest id.

It sits at the bottom: it imports no app and not the project package (idolsite), so any app
can use it without a cycle."""

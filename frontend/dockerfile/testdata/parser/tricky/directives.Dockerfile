#syntax = x/y:1 arg
  # Escape = `
# comment
# escape=\
FROM a `
  AS b

# syntax=x
FROM scratch

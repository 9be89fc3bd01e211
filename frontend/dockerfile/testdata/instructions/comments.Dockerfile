# comment for base
# base is the first stage
ARG V=1 W
FROM alpine:$V AS base
# X is x
ARG X=1 Y

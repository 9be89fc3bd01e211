FROM busybox AS a
ENTRYPOINT echo a

FROM busybox AS b
CMD ["c"]
ENTRYPOINT ["e"]

FROM b AS c
ENTRYPOINT []
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
CMD run this

FROM onbuild AS d
ENTRYPOINT /x

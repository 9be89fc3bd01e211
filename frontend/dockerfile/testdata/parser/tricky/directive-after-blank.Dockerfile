
# escape=`
FROM a \
  AS b

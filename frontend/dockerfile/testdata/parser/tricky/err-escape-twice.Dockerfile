# escape=`
# escape=\
FROM a

# only

# comments

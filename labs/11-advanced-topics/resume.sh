# resume.sh: pick chapter 11 up again in a new shell. Source it, don't run it:
#
#   source ~/runts/labs/11-advanced-topics/resume.sh
#
# Puts back what lived in the shell that typed the chapter's commands: the
# current directory ~/lab/11, `lab` (this directory), `c11uid` (the uid of
# the chapter's user c11user), the `asuser` function that runs a command
# as that user, with its XDG_RUNTIME_DIR and the shared runts
# (/tmp/c11/app/bin, share-runts.sh) first on PATH, and `cfg`, which
# changes the config.json of the current directory with jq and leaves it
# the user's. Then it says whether the user is still there.
#
# Containers From Scratch, chapter 11.

mkdir -p ~/lab/11 && cd ~/lab/11 || return 1
lab=~/runts/labs/11-advanced-topics
cfg() { jq "$@" config.json > config.json.new && mv config.json.new config.json && chown c11user: config.json; }
asuser() { runuser -u c11user -- env XDG_RUNTIME_DIR=/run/user/$c11uid PATH=/tmp/c11/app/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
if c11uid=$(id -u c11user 2>/dev/null); then
  echo "chapter 11: in ~/lab/11, lab=$lab; c11user is uid $c11uid"
else
  echo "chapter 11: in ~/lab/11, lab=$lab; no c11user (the chapter's first section makes it)"
fi

# commands.sh: a shell script that runs guest commands, as configure, make or a
# test driver does.  Each turn of the loop runs five external commands (seq|wc,
# echo|sha256sum|cut, expr: the shell's echo is a builtin); the last line sums
# it all up.  Commands are named by path, from $BIN (default /usr/bin), so
# that a busybox shell runs the coreutils programs and not its own applets.
#
# Usage: sh commands.sh [TURNS]   (default 40: 200 commands)
n=${1:-40}
bin=${BIN:-/usr/bin}
i=0
total=0
while [ "$i" -lt "$n" ]; do
    lines=$("$bin/seq" 1 "$i" | "$bin/wc" -l)
    digest=$(echo "turn $i" | "$bin/sha256sum" | "$bin/cut" -c1-8)
    total=$("$bin/expr" "$total" + "$lines")
    echo "$i $lines $digest"
    i=$((i + 1))
done
echo "total $total"

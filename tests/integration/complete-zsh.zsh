#!/usr/bin/zsh -f
# Test helper of t0008-completion-shells.sh: what zsh's completion offers, with the
# completion function in directory $1 on fpath, for each command line read from stdin
# (the cursor at its end). Prints one "LINE<TAB>WORD" line per match, WORD being the
# whole word the match would make (the prefixes zsh keeps and adds included).
# Completion only runs inside zle, so an interactive zsh on a pseudo-terminal (zpty)
# is given each line and a TAB, bound to a widget that runs the completion system with
# compadd wrapped to record the matches, then writes a mark; the line is then erased.
emulate -L zsh
zmodload zsh/zpty || exit 1
dir=$1
out=$(mktemp -d) || exit 1
trap 'zpty -d cap 2>/dev/null; rm -rf -- $out' EXIT

zpty cap zsh -f -i || exit 1
# the setup, as one line the interactive zsh runs
zpty -w cap "exec 2>>${(q)out}/err; setopt interactive_comments; PS1='' PROMPT_EOL_MARK=''; unsetopt zle_bracketed_paste 2>/dev/null
fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D
_cap_out=${(q)out}
compadd() {
	local -a _cap_hits _cap_pre
	local _cap_a
	# calls that only ask (-O, -A, -D) are passed through untouched
	if [[ \${(j: :)@} == *(-O|-A|-D)* ]]; then builtin compadd \"\$@\"; return; fi
	builtin compadd -A _cap_hits \"\$@\"
	_cap_pre=(\"\$@\")
	local _cap_p='' _cap_i
	for ((_cap_i = 1; _cap_i <= \$#_cap_pre; _cap_i++)); do
		case \$_cap_pre[_cap_i] in
		-[pP]) _cap_p+=\$_cap_pre[_cap_i+1]; ((_cap_i++)) ;;
		-[pP]?*) _cap_p+=\${_cap_pre[_cap_i]#-?} ;;
		--) break ;;
		esac
	done
	for _cap_a in \$_cap_hits; do print -r -- \"\$IPREFIX\$_cap_p\$_cap_a\" >>\$_cap_out/hits; done
	builtin compadd \"\$@\"
}
_cap_complete() { _main_complete; print done >\$_cap_out/done; compstate[insert]=''; compstate[list]='' }
zle -C cap-complete complete-word _cap_complete
bindkey '^I' cap-complete
print ready >\$_cap_out/ready"

# wait for file $1 (the pty is drained meanwhile, so zsh never blocks on it)
await() {
	local n=0 junk
	while [[ ! -e $1 ]]; do
		while zpty -rt cap junk '*' 2>/dev/null; do :; done
		((++n > 3000)) && { print -u2 "complete-zsh: zsh did not answer"; exit 1; }
		sleep 0.02
	done
}
await $out/ready
while IFS= read -r line; do
	rm -f $out/hits $out/done
	zpty -w -n cap "$line"$'\t'
	await $out/done
	[[ -e $out/hits ]] && while IFS= read -r w; do print -r -- "$line"$'\t'"$w"; done <$out/hits
	# erase the line (^U) for the next one
	zpty -w -n cap $'\C-u'
done
zpty -w cap exit
# what the completion wrote on stderr, for a failing test to show
[[ -s $out/err ]] && cat $out/err >&2
exit 0

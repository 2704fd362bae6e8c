package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	connect "github.com/personaconnect/connect-go"
)

var completionCommand = &command{
	name:    "completion",
	args:    "bash|zsh|fish",
	summary: "print a shell completion script",
	help: `The script completes commands, subcommands and flags. Load it with:

  bash:  source <(connect completion bash)      (or save it under bash-completion's completions directory)
  zsh:   connect completion zsh > "${fpath[1]}/_connect"   (then restart zsh)
  fish:  connect completion fish > ~/.config/fish/completions/connect.fish`,
	choices: []string{"bash", "zsh", "fish"},
	setup: func(fs *flag.FlagSet) action {
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, "the shell (bash, zsh or fish)"); err != nil {
				return err
			}
			gen, ok := completionScripts[args[0]]
			if !ok {
				return usagef("no completion for shell %q; want bash, zsh or fish", args[0])
			}
			return gen(s.stdout, s.completionTree())
		}
	},
}

var versionCommand = &command{
	name:    "version",
	summary: "print the SDK version the command was built with",
	setup: func(fs *flag.FlagSet) action {
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args); err != nil {
				return err
			}
			_, err := fmt.Fprintln(s.stdout, "connect "+connect.Version)
			return err
		}
	},
}

// A completionNode is the command tree as the scripts see it: names,
// summaries, flags and argument choices.
type completionNode struct {
	name, summary string
	flags         []completionFlag
	choices       []string
	subs          []*completionNode
}

type completionFlag struct{ name, usage string }

// completionTree derives the scripts' tree from the command table, with
// each leaf's flags from the same flag set the dispatcher parses.
func (s *session) completionTree() *completionNode {
	var convert func(c *command) *completionNode
	convert = func(c *command) *completionNode {
		n := &completionNode{name: c.name, summary: c.summary, choices: c.choices}
		if c.subs == nil && c.setup != nil {
			fs, _ := c.flagSet(&session{})
			fs.VisitAll(func(f *flag.Flag) {
				_, usage := flag.UnquoteUsage(f)
				n.flags = append(n.flags, completionFlag{f.Name, usage})
			})
			n.flags = append(n.flags, completionFlag{"help", "show the help"})
		}
		for _, sub := range c.subs {
			n.subs = append(n.subs, convert(sub))
		}
		return n
	}
	return convert(s.root)
}

var completionScripts = map[string]func(io.Writer, *completionNode) error{
	"bash": bashCompletion,
	"zsh":  zshCompletion,
	"fish": fishCompletion,
}

func names[T any](items []T, name func(T) string) string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = name(it)
	}
	return strings.Join(out, " ")
}

func nodeName(n *completionNode) string { return n.name }

func flagWords(n *completionNode) string {
	return names(n.flags, func(f completionFlag) string { return "--" + f.name })
}

// eachLeaf visits the leaves with the words that lead to them.
func (n *completionNode) eachLeaf(visit func(path []string, leaf *completionNode)) {
	for _, sub := range n.subs {
		if sub.subs == nil {
			visit([]string{sub.name}, sub)
			continue
		}
		for _, leaf := range sub.subs {
			visit([]string{sub.name, leaf.name}, leaf)
		}
	}
}

// eachNestedChoice visits the leaves inside groups whose first argument
// has choices ("objects get" takes a type), with their "group leaf" path.
func (n *completionNode) eachNestedChoice(visit func(path string, choices []string)) {
	n.eachLeaf(func(path []string, leaf *completionNode) {
		if len(path) == 2 && leaf.choices != nil {
			visit(strings.Join(path, " "), leaf.choices)
		}
	})
}

func bashCompletion(w io.Writer, root *completionNode) error {
	var b strings.Builder
	b.WriteString(`# bash completion for connect, made by "connect completion bash".
_connect() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local words=""
    if [[ $COMP_CWORD -eq 1 ]]; then
        words="` + names(root.subs, nodeName) + ` help"
    elif [[ $COMP_CWORD -eq 2 && $cur != -* ]]; then
        case ${COMP_WORDS[1]} in
`)
	for _, g := range root.subs {
		switch {
		case g.subs != nil:
			fmt.Fprintf(&b, "            %s) words=%q ;;\n", g.name, names(g.subs, nodeName))
		case g.choices != nil:
			fmt.Fprintf(&b, "            %s) words=%q ;;\n", g.name, strings.Join(g.choices, " "))
		}
	}
	b.WriteString(`        esac
    elif [[ $COMP_CWORD -eq 3 && $cur != -* ]]; then
        case "${COMP_WORDS[1]} ${COMP_WORDS[2]}" in
`)
	root.eachNestedChoice(func(path string, choices []string) {
		fmt.Fprintf(&b, "            %q) words=%q ;;\n", path, strings.Join(choices, " "))
	})
	b.WriteString(`        esac
    fi
    if [[ -z $words || $cur == -* ]]; then
        case "${COMP_WORDS[1]} ${COMP_WORDS[2]}" in
`)
	root.eachLeaf(func(path []string, leaf *completionNode) {
		pattern := fmt.Sprintf("%q", strings.Join(path, " "))
		if len(path) == 1 {
			pattern = fmt.Sprintf("%q*", path[0]+" ")
		}
		fmt.Fprintf(&b, "            %s) words=%q ;;\n", pattern, flagWords(leaf))
	})
	b.WriteString(`        esac
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _connect connect
`)
	_, err := io.WriteString(w, b.String())
	return err
}

func zshCompletion(w io.Writer, root *completionNode) error {
	var b strings.Builder
	b.WriteString(`#compdef connect
# zsh completion for connect, made by "connect completion zsh".
_connect() {
    local -a items
    if (( CURRENT == 2 )); then
        items=(` + zshItems(root.subs) + ` 'help:show the help of a command')
        _describe 'command' items
        return
    fi
    if (( CURRENT == 3 )) && [[ ${words[CURRENT]} != -* ]]; then
        case ${words[2]} in
`)
	for _, g := range root.subs {
		switch {
		case g.subs != nil:
			fmt.Fprintf(&b, "            %s) items=(%s); _describe 'subcommand' items; return ;;\n", g.name, zshItems(g.subs))
		case g.choices != nil:
			fmt.Fprintf(&b, "            %s) compadd -- %s; return ;;\n", g.name, strings.Join(g.choices, " "))
		}
	}
	b.WriteString(`        esac
    fi
    if (( CURRENT == 4 )) && [[ ${words[CURRENT]} != -* ]]; then
        case "${words[2]} ${words[3]}" in
`)
	root.eachNestedChoice(func(path string, choices []string) {
		fmt.Fprintf(&b, "            %s) compadd -- %s; return ;;\n", shellQuote(path), strings.Join(choices, " "))
	})
	b.WriteString(`        esac
    fi
    case "${words[2]} ${words[3]}" in
`)
	root.eachLeaf(func(path []string, leaf *completionNode) {
		pattern := shellQuote(strings.Join(path, " "))
		if len(path) == 1 {
			pattern = shellQuote(path[0]+" ") + "*"
		}
		fmt.Fprintf(&b, "        %s) if [[ $PREFIX == -* ]]; then compadd -- %s; else _files; fi ;;\n", pattern, flagWords(leaf))
	})
	b.WriteString(`    esac
}
# Autoloaded from $fpath, this file is _connect's body; sourced, it registers it.
if [[ $funcstack[1] == _connect ]]; then
    _connect "$@"
else
    compdef _connect connect
fi
`)
	_, err := io.WriteString(w, b.String())
	return err
}

// zshItems renders name:summary pairs for _describe.
func zshItems(nodes []*completionNode) string {
	return names(nodes, func(n *completionNode) string {
		return shellQuote(n.name + ":" + strings.ReplaceAll(n.summary, ":", `\:`))
	})
}

func fishCompletion(w io.Writer, root *completionNode) error {
	var b strings.Builder
	b.WriteString("# fish completion for connect, made by \"connect completion fish\".\n")
	b.WriteString("complete -c connect -f\n")
	for _, g := range root.subs {
		fmt.Fprintf(&b, "complete -c connect -n __fish_use_subcommand -a %s -d %s\n", g.name, shellQuote(g.summary))
	}
	for _, g := range root.subs {
		cond := "__fish_seen_subcommand_from " + g.name
		switch {
		case g.subs != nil:
			subNames := names(g.subs, nodeName)
			for _, leaf := range g.subs {
				fmt.Fprintf(&b, "complete -c connect -n %s -a %s -d %s\n",
					shellQuote(cond+"; and not __fish_seen_subcommand_from "+subNames), leaf.name, shellQuote(leaf.summary))
			}
		case g.choices != nil:
			fmt.Fprintf(&b, "complete -c connect -n %s -a %s\n", shellQuote(cond), shellQuote(strings.Join(g.choices, " ")))
		}
	}
	root.eachNestedChoice(func(path string, choices []string) {
		group, leaf, _ := strings.Cut(path, " ")
		cond := "__fish_seen_subcommand_from " + group + "; and __fish_seen_subcommand_from " + leaf +
			"; and test (count (commandline -opc)) -eq 3"
		fmt.Fprintf(&b, "complete -c connect -n %s -a %s\n", shellQuote(cond), shellQuote(strings.Join(choices, " ")))
	})
	root.eachLeaf(func(path []string, leaf *completionNode) {
		cond := "__fish_seen_subcommand_from " + path[0]
		if len(path) == 2 {
			cond += "; and __fish_seen_subcommand_from " + path[1]
		}
		for _, f := range leaf.flags {
			fmt.Fprintf(&b, "complete -c connect -n %s -l %s -d %s\n", shellQuote(cond), f.name, shellQuote(f.usage))
		}
	})
	_, err := io.WriteString(w, b.String())
	return err
}

// shellQuote single-quotes s for sh, zsh and fish.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

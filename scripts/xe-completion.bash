# Bash completion for xenapid's xe.  Source it (or install it as
# /usr/share/bash-completion/completions/xe):
#     . scripts/xe-completion.bash
# Commands and parameter names come from the binary itself (`xe help --minimal`,
# `xe help CMD --minimal`, `xe help CMD --fields`), so they always match it; uuids and
# names come from the daemon, reached with the -s/-p/-u/-pw/-pwf/--nossl/--fingerprint options already typed
# (or the environment, as xe itself does).

_xe_words_before() {
    # The words of the line up to the cursor, split on blanks only: bash splits on '='
    # and ':' too, and xe's key=value words need them whole.
    local line=${COMP_LINE:0:COMP_POINT}
    read -r -a _xe_words <<<"$line"
    [[ $line == *[[:space:]] ]] && _xe_words+=("")
}

_xe() {
    local xe=${COMP_WORDS[0]}
    local -a _xe_words conn=()
    _xe_words_before
    local cur=${_xe_words[${#_xe_words[@]}-1]} cmd="" i w
    for ((i = 1; i < ${#_xe_words[@]} - 1; i++)); do
        w=${_xe_words[i]}
        case $w in
        -s | -p | -u | -pw | -pwf | --fingerprint)
            conn+=("$w" "${_xe_words[i+1]}")
            ((i++))
            ;;
        --nossl | --fingerprint=*) conn+=("$w") ;;
        -*) ;;
        *=*) ;;
        *) [[ -z $cmd ]] && cmd=$w ;;
        esac
    done
    case ${_xe_words[${#_xe_words[@]}-2]} in
    -pwf) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    -s | -p | -u | -pw | --fingerprint) return ;;
    esac

    if [[ -z $cmd ]]; then
        local cmds
        cmds=$("$xe" help --minimal 2>/dev/null)
        COMPREPLY=($(compgen -W "${cmds//,/ }" -- "$cur"))
        return
    fi

    if [[ $cur == --* ]]; then
        COMPREPLY=($(compgen -W "--minimal --multiple --force --nossl --fingerprint" -- "$cur"))
        return
    fi

    if [[ $cur == *=* ]]; then
        local key=${cur%%=*} val=${cur#*=} words="" prefix=${cmd%%-*}
        case $key in
        param-name | params)
            words=$("$xe" help "$cmd" --fields 2>/dev/null)
            [[ $key == params ]] && words="all,$words"
            ;;
        uuid) words=$("$xe" "${conn[@]}" "$prefix-list" --minimal 2>/dev/null) ;;
        vm | template) words=$("$xe" "${conn[@]}" vm-list params=name-label --minimal 2>/dev/null) ;;
        host | on) words=$("$xe" "${conn[@]}" host-list params=name-label --minimal 2>/dev/null) ;;
        class) words="vm,host,pool,task,host_metrics,vm_metrics,vm_guest_metrics" ;;
        paused | force | live | has-vendor-device | is-a-template) words="true,false" ;;
        esac
        local IFS=$'\n'
        COMPREPLY=($(compgen -W "$(tr ',' '\n' <<<"$words")" -- "$val"))
        # bash completes only the text after '=' when '=' breaks words (the default)
        if [[ $COMP_WORDBREAKS != *=* ]]; then
            COMPREPLY=("${COMPREPLY[@]/#/$key=}")
        fi
        return
    fi

    local params
    params=$("$xe" help "$cmd" --minimal 2>/dev/null)
    COMPREPLY=($(compgen -S = -W "${params//,/ }" -- "$cur"))
    compopt -o nospace 2>/dev/null
}

complete -F _xe xe

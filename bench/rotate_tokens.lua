-- wrk script: each request carries the next token of a file, in rotation.
--   wrk -t1 ... -s rotate_tokens.lua URL -- TOKEN_FILE START_INDEX
-- One wrk thread (-t1) walks the file once from START_INDEX (0-based), wrapping at its end;
-- the bench passes where the previous run stopped, so no run repeats tokens the server has
-- just seen unless the whole file fits in its cache.
local tokens = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = "Bearer " .. line
  end
  i = tonumber(args[2]) % #tokens
end

function request()
  i = i % #tokens + 1
  return wrk.format(nil, nil, { ["Authorization"] = tokens[i] })
end

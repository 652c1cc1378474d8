/**
 * A small XML reader for the request bodies S3 clients send (CompleteMultipartUpload,
 * Delete, CreateBucketConfiguration…): elements, text, entities and CDATA. No DTDs, no
 * external entities (so nothing to expand or fetch), attributes parsed but rarely needed.
 * Namespace prefixes are dropped from names: S3 bodies use one default namespace.
 */

export interface XmlElement {
  readonly name: string
  readonly attributes: Readonly<Record<string, string>>
  readonly children: ReadonlyArray<XmlElement>
  /** The element's own text (concatenated text nodes, entities decoded, not trimmed). */
  readonly text: string
}

export class XmlParseError extends Error {}

const decodeEntities = (s: string): string =>
  s.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e === "amp") return "&"
    if (e === "lt") return "<"
    if (e === "gt") return ">"
    if (e === "quot") return "\""
    if (e === "apos") return "'"
    const code = e.startsWith("#x") ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)
    if (!Number.isFinite(code) || code > 0x10ffff) throw new XmlParseError(`invalid character reference &${e};`)
    return String.fromCodePoint(code)
  })

const localName = (qname: string) => {
  const colon = qname.indexOf(":")
  return colon < 0 ? qname : qname.slice(colon + 1)
}

interface Building {
  name: string
  attributes: Record<string, string>
  children: Array<XmlElement>
  text: string
}

/**
 * A request body's document with `rootName` at its root, or a string saying why it is not one
 * (what S3 answers as MalformedXML).
 */
export const requestDocument = (body: string, rootName: string): XmlElement | string => {
  let root: XmlElement
  try {
    root = parseXml(body)
  } catch (e) {
    if (e instanceof XmlParseError) return `the body is not well-formed XML: ${e.message}`
    throw e
  }
  return root.name === rootName ? root : `the root element must be <${rootName}>, not <${root.name}>`
}

/** Parses one document; throws XmlParseError on anything malformed. */
export const parseXml = (input: string): XmlElement => {
  const stack: Array<Building> = []
  let root: XmlElement | undefined
  let i = 0
  const n = input.length
  while (i < n) {
    const lt = input.indexOf("<", i)
    const textEnd = lt < 0 ? n : lt
    if (textEnd > i) {
      const text = input.slice(i, textEnd)
      if (stack.length > 0) stack[stack.length - 1]!.text += decodeEntities(text)
      else if (text.trim() !== "") throw new XmlParseError("text outside the root element")
    }
    if (lt < 0) break
    if (input.startsWith("<?", lt)) {
      const end = input.indexOf("?>", lt)
      if (end < 0) throw new XmlParseError("unterminated processing instruction")
      i = end + 2
    } else if (input.startsWith("<!--", lt)) {
      const end = input.indexOf("-->", lt)
      if (end < 0) throw new XmlParseError("unterminated comment")
      i = end + 3
    } else if (input.startsWith("<![CDATA[", lt)) {
      const end = input.indexOf("]]>", lt)
      if (end < 0 || stack.length === 0) throw new XmlParseError("misplaced or unterminated CDATA section")
      stack[stack.length - 1]!.text += input.slice(lt + 9, end)
      i = end + 3
    } else if (input.startsWith("<!", lt)) {
      throw new XmlParseError("document type declarations are not accepted")
    } else if (input.startsWith("</", lt)) {
      const end = input.indexOf(">", lt)
      if (end < 0) throw new XmlParseError("unterminated end tag")
      const name = localName(input.slice(lt + 2, end).trim())
      const open = stack.pop()
      if (!open || open.name !== name) throw new XmlParseError(`unexpected </${name}>`)
      const done: XmlElement = open
      if (stack.length > 0) stack[stack.length - 1]!.children.push(done)
      else root = done
      i = end + 1
    } else {
      const end = input.indexOf(">", lt)
      if (end < 0) throw new XmlParseError("unterminated start tag")
      const selfClosing = input[end - 1] === "/"
      const inner = input.slice(lt + 1, selfClosing ? end - 1 : end)
      const m = /^([^\s/>]+)([\s\S]*)$/.exec(inner)
      if (!m) throw new XmlParseError("malformed start tag")
      if (root !== undefined) throw new XmlParseError("more than one root element")
      const attributes: Record<string, string> = {}
      const attrRe = /([^\s=]+)\s*=\s*("([^"]*)"|'([^']*)')/g
      const rest = m[2]!
      let am: RegExpExecArray | null
      while ((am = attrRe.exec(rest)) !== null) attributes[localName(am[1]!)] = decodeEntities(am[3] ?? am[4] ?? "")
      const el: Building = { name: localName(m[1]!), attributes, children: [], text: "" }
      if (selfClosing) {
        if (stack.length > 0) stack[stack.length - 1]!.children.push(el)
        else root = el
      } else {
        stack.push(el)
      }
      i = end + 1
    }
  }
  if (stack.length > 0) throw new XmlParseError(`unclosed <${stack[stack.length - 1]!.name}>`)
  if (!root) throw new XmlParseError("no root element")
  return root
}

/** The children of `el` named `name`. */
export const childrenNamed = (el: XmlElement, name: string): ReadonlyArray<XmlElement> => el.children.filter((c) => c.name === name)

/** The trimmed text of the first child named `name`, if any. */
export const childText = (el: XmlElement, name: string): string | undefined => el.children.find((c) => c.name === name)?.text.trim()
